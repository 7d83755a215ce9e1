package rayjobs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var _ app.RayCluster = (*Cluster)(nil)

// Config configures a Cluster: the client and how deliberation jobs are submitted.
type Config struct {
	ClientConfig
	// Entrypoint, when set, is the command of a job baked into the Ray image (RAY_JOB_ENTRYPOINT):
	// nothing is uploaded and no working_dir is set.
	Entrypoint string
	// JobPackage returns the embedded deliberation job as a working_dir package named
	// _ray_pkg_<hash>.zip (rayjob.Package); it is required unless Entrypoint is set.
	JobPackage func() (name string, zip []byte, err error)
	// PackageEntrypoint runs the job from the package's root (rayjob.Entrypoint).
	PackageEntrypoint string
	// NumCPUs and Resources reserve resources for the job's driver (RAY_JOB_NUM_CPUS,
	// RAY_JOB_RESOURCES); zero and empty reserve nothing, since the work is I/O bound.
	NumCPUs   float64
	Resources map[string]float64
	// CallbackURL is where the job sends its finished wake-up (RAY_EXECUTOR_CALLBACK_URL).
	CallbackURL string
	// Policy is what every job enforces on its own side: the model servers it may call and how
	// much of an answer it keeps (deliberation.Limits.JobPolicy). Without allowed origins, the
	// job calls no model server.
	Policy deliberation.JobPolicy
	// Limits are the job's own limits (deliberation.Limits.OwnLimits), set in its environment
	// beside the request: the job refuses a request outside them. Its allowed origins and answer
	// cap default to the policy's; with neither, the job calls no model server.
	Limits deliberation.OwnLimits
	// Owner names the registry the jobs belong to (the Redis key prefix), in their metadata: the
	// reconcile pass adopts and cleans up only its own registry's jobs, never those of another
	// deployment sharing the Ray cluster. Default "rayexec".
	Owner string
	// PackageRecheck is how long a package Ray confirmed is trusted before the next submit asks
	// again (default 5 s). Every check pins the package in Ray for 10 minutes
	// (RAY_RUNTIME_ENV_TEMPORARY_REFERENCE_EXPIRATION_S), so a confirmation this fresh cannot have
	// been garbage-collected; a busy function then asks a few times a minute, not once a job.
	PackageRecheck time.Duration
}

// defaultPackageRecheck: see Config.PackageRecheck.
const defaultPackageRecheck = 5 * time.Second

// Cluster is the app.RayCluster port on the Ray Jobs API.
type Cluster struct {
	client     *Client
	entrypoint string
	// pkgName and pkgZip are the job package; pkgName is empty when the image bakes the job in.
	pkgName   string
	pkgZip    []byte
	numCPUs   float64
	resources map[string]float64
	callback  string
	policy    deliberation.JobPolicy
	limitsEnv map[string]string
	owner     string
	recheck   time.Duration
	// pkgConfirmed is when Ray last confirmed the package (unix ns; 0: never, or forgotten after
	// an error, which may mean a new head that has none).
	pkgConfirmed atomic.Int64
}

// NewCluster validates cfg, reporting every problem at once, and reads the job package once.
func NewCluster(cfg Config) (*Cluster, error) {
	var problems []error
	client, err := NewClient(cfg.ClientConfig)
	if err != nil {
		problems = append(problems, err)
	}
	c := &Cluster{client: client, entrypoint: cfg.Entrypoint, numCPUs: cfg.NumCPUs, callback: cfg.CallbackURL, owner: cfg.Owner,
		recheck: cfg.PackageRecheck, policy: cfg.Policy, limitsEnv: jobLimits(cfg).JobEnv()}
	if c.owner == "" {
		c.owner = "rayexec"
	}
	if c.recheck <= 0 {
		c.recheck = defaultPackageRecheck
	}
	if cfg.Entrypoint == "" {
		problems = append(problems, c.loadPackage(cfg)...)
	}
	if cfg.NumCPUs < 0 || math.IsNaN(cfg.NumCPUs) || math.IsInf(cfg.NumCPUs, 0) {
		problems = append(problems, fmt.Errorf("ray job num_cpus must be a non-negative number, got %v", cfg.NumCPUs))
	}
	if len(cfg.Resources) > 0 {
		c.resources = make(map[string]float64, len(cfg.Resources))
		for name, v := range cfg.Resources {
			if name == "" || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				problems = append(problems, fmt.Errorf("ray job resource %q must be named and non-negative, got %v", name, v))
			}
			c.resources[name] = v
		}
	}
	if cfg.CallbackURL != "" {
		u, err := url.Parse(cfg.CallbackURL)
		// The URL travels in the job's env_vars, which Ray shows to anyone who can list jobs.
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			problems = append(problems, fmt.Errorf("callback URL must be an http(s) URL without credentials"))
		}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return c, nil
}

// jobLimits are cfg.Limits, with what it leaves unset taken from the policy and the callback:
// a job's own list is never narrower than the policy the same functions send it.
func jobLimits(cfg Config) deliberation.OwnLimits {
	lim := cfg.Limits
	if lim.AllowedOrigins == nil {
		lim.AllowedOrigins = cfg.Policy.AllowedOrigins
	}
	if lim.MaxAnswerBytes == 0 {
		lim.MaxAnswerBytes = cfg.Policy.MaxAnswerBytes
	}
	if lim.CallbackURL == "" {
		lim.CallbackURL = cfg.CallbackURL
	}
	return lim
}

func (c *Cluster) loadPackage(cfg Config) []error {
	if cfg.JobPackage == nil || cfg.PackageEntrypoint == "" {
		return []error{errors.New("without a job entrypoint (RAY_JOB_ENTRYPOINT), the job package and its entrypoint are required")}
	}
	name, zip, err := cfg.JobPackage()
	switch {
	case err != nil:
		return []error{fmt.Errorf("job package: %w", err)}
	case !safeName(name, maxPackageName) || len(zip) == 0:
		return []error{fmt.Errorf("job package %q must have a plain name and content", name)}
	}
	c.entrypoint, c.pkgName, c.pkgZip = cfg.PackageEntrypoint, name, zip
	return nil
}

// Client is the underlying Jobs API client, for health checks and the breaker's state.
func (c *Cluster) Client() *Client { return c.client }

// Env variables the deliberation job reads (shared/rayjob/deliberation_job.py).
const (
	envRequest  = "RAY_EXECUTOR_REQUEST"
	envDeadline = "RAY_EXECUTOR_DEADLINE_UNIX"
	envCallback = "RAY_EXECUTOR_CALLBACK_URL"
	// AppName marks this service's jobs in their metadata, so they can be listed and adopted.
	AppName = "ray-executor"
)

// Submit starts the job of d's current attempt under its deterministic submission id. A job Ray
// already holds under that id is success; so is one Ray created although its answer was lost.
// Nothing secret goes into the job: the model server's key comes from the cluster's environment.
func (c *Cluster) Submit(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) (err error) {
	ctx, span := startSubmitSpan(ctx, c.client.cfg.Tracing, d)
	defer func() { endSpan(span, err) }()
	what := "submit " + jobLabel(d.SubmissionID)
	if d.Deadline.IsZero() {
		return deliberation.Errorf(deliberation.CodeInternal, "%s: the deliberation has no deadline", what)
	}
	payload, err := req.JobPayload(d.ID, c.policy)
	if err != nil {
		return &deliberation.Error{Code: deliberation.CodeInternal, Message: what + ": cannot encode the request", Cause: err}
	}
	env := map[string]string{
		envRequest:  string(payload),
		envDeadline: strconv.FormatFloat(float64(d.Deadline.UnixMilli())/1000, 'f', 3, 64),
	}
	if c.callback != "" {
		env[envCallback] = c.callback
	}
	maps.Copy(env, c.limitsEnv)
	addTraceEnv(ctx, env)
	sr := SubmitRequest{
		Entrypoint: c.entrypoint, SubmissionID: d.SubmissionID, RuntimeEnv: &RuntimeEnv{EnvVars: env},
		Metadata: map[string]string{
			"app": AppName, "owner": c.owner, "deliberation_id": d.ID, "task_id": d.TaskID, "role": d.Role,
			// Ray's dashboard shows job_name as the job's title.
			"job_name": d.JobName(),
		},
		EntrypointNumCPUs: c.numCPUs, EntrypointResources: c.resources,
	}
	if c.pkgName != "" {
		if err := c.ensurePackage(ctx); err != nil {
			return domainError(err, what+": job package")
		}
		sr.RuntimeEnv.WorkingDir = "gcs://" + c.pkgName
	}
	_, err = c.client.Submit(ctx, sr)
	if err == nil || errors.Is(err, ErrAlreadyExists) {
		return nil
	}
	c.pkgConfirmed.Store(0) // Ray may have restarted without the package: look next time
	if errors.Is(err, ErrUnavailable) {
		// The submit may have reached Ray and only its answer been lost: look before deciding.
		if _, gerr := c.client.Get(ctx, d.SubmissionID); gerr == nil {
			return nil
		}
	}
	return domainError(err, what)
}

// ensurePackage uploads the job package unless Ray has it. Ray garbage-collects packages no job
// references; the check pins the package for the submits that follow it within recheck.
func (c *Cluster) ensurePackage(ctx context.Context) error {
	if at := c.pkgConfirmed.Load(); at != 0 && time.Since(time.Unix(0, at)) < c.recheck {
		return nil
	}
	now := time.Now()
	exists, err := c.client.PackageExists(ctx, c.pkgName)
	if err == nil && !exists {
		err = c.client.UploadPackage(ctx, c.pkgName, c.pkgZip)
	}
	if err != nil {
		return err
	}
	c.pkgConfirmed.Store(now.UnixNano())
	return nil
}

// Stop asks Ray to stop a job; stopping a finished job is not an error.
func (c *Cluster) Stop(ctx context.Context, submissionID string) error {
	_, err := c.client.Stop(ctx, submissionID)
	return domainError(err, "stop "+jobLabel(submissionID))
}

// deleteSettle is how long after a job's end Ray still watches its supervisor actor. Ray's job
// monitor notices the actor's exit up to ~1.5 s after the end (it polls every second); when the
// record is deleted before that, the monitor writes a new one, FAILED with
// JOB_SUPERVISOR_ACTOR_DIED and "Entrypoint not found.", which nothing ever deletes.
const deleteSettle = 3 * time.Second

// Delete removes a terminal job's record from Ray. It refuses with a conflict error while the job
// is pending or running, and while it ended too recently to be deleted without leaving such a
// ghost record behind: a later pass deletes it.
func (c *Cluster) Delete(ctx context.Context, submissionID string) error {
	what := "delete " + jobLabel(submissionID)
	j, err := c.client.Get(ctx, submissionID)
	if err != nil {
		return domainError(err, what)
	}
	if !j.Status.Terminal() {
		return domainError(&Error{Op: "delete", kind: ErrNotTerminal, Detail: "the job is " + string(j.Status)}, what)
	}
	if ended := msTime(j.EndTime); time.Since(ended) < deleteSettle {
		return &deliberation.Error{Code: deliberation.CodeConflict,
			Message: what + ": the job ended moments ago and Ray still watches it"}
	}
	_, err = c.client.Delete(ctx, submissionID)
	return domainError(err, what)
}
