package rayserve

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"reflect"
	"strconv"
)

// Decision is whether a function should deploy its runner over what the cluster runs, and why.
type Decision struct {
	Deploy bool
	Reason string
}

// Decide compares the runner application want (its WorkingDir set: gcs://<package>) with the
// cluster's Serve applications. Many replicas of several function versions decide at once, so
// the rule must converge rather than flap:
//   - a missing runner is deployed: whoever comes first, the others then find it up;
//   - a runner of a higher revision is left alone, even failed: an older binary never rolls a
//     newer one back (a failed newer runner is for the newer binary, or a person, to fix);
//   - a runner Serve reports DEPLOY_FAILED or UNHEALTHY is deployed again;
//   - a runner of a lower revision is replaced;
//   - at the same revision, a different package, args, pip, variables, replica count, autoscaling or
//     shutdown timeout is replaced: the settings changed (a new ConfigMap restarts every
//     function with the same new values). Two
//     function deployments with different settings against one cluster would replace each
//     other's runner on every start; that is a misconfiguration, and the log names both values.
func Decide(apps map[string]Status, want RunnerApplication) Decision {
	st, ok := apps[want.name()]
	if !ok {
		return Decision{Deploy: true, Reason: "no runner on the cluster"}
	}
	have, err := parseApp(st.Config)
	if err != nil {
		return Decision{Deploy: true, Reason: "the runner's config is unreadable: " + err.Error()}
	}
	mine, err := appOf(want)
	if err != nil {
		return Decision{Reason: err.Error()}
	}
	switch hr, mr := have.revision(), mine.revision(); {
	case hr > mr:
		return Decision{Reason: fmt.Sprintf("the cluster runs a newer runner (revision %d, ours %d, %s)", hr, mr, st.Status)}
	case st.Status == "DEPLOY_FAILED" || st.Status == "UNHEALTHY":
		return Decision{Deploy: true, Reason: "the runner is " + st.Status + ": " + st.Message}
	case hr < mr:
		return Decision{Deploy: true, Reason: fmt.Sprintf("the cluster runs an older runner (revision %d, ours %d)", hr, mr)}
	}
	if !reflect.DeepEqual(have.comparable(), mine.comparable()) {
		return Decision{Deploy: true, Reason: fmt.Sprintf("the runner's config differs: %s, ours %s",
			show(have.comparable()), show(mine.comparable()))}
	}
	return Decision{Reason: "the runner is up to date"}
}

// deployedApp is what Decide compares of a deployed application.
type deployedApp struct {
	RuntimeEnv struct {
		WorkingDir string            `json:"working_dir"`
		Pip        json.RawMessage   `json:"pip"` // a list, or the dict of hashed requirements
		EnvVars    map[string]string `json:"env_vars"`
	} `json:"runtime_env"`
	Args              map[string]any `json:"args"`
	AutoscalingPolicy map[string]any `json:"autoscaling_policy"`
	Deployments       []struct {
		NumReplicas              int            `json:"num_replicas"`
		AutoscalingConfig        map[string]any `json:"autoscaling_config"`
		GracefulShutdownTimeoutS float64        `json:"graceful_shutdown_timeout_s"`
	} `json:"deployments"`
}

func parseApp(raw json.RawMessage) (deployedApp, error) {
	var a deployedApp
	err := json.Unmarshal(raw, &a)
	return a, err
}

// appOf reads want back the way the cluster shows it, so both sides went through JSON alike
// (numbers as float64).
func appOf(want RunnerApplication) (deployedApp, error) {
	raw, err := want.Config()
	if err != nil {
		return deployedApp{}, err
	}
	var c struct {
		Applications []json.RawMessage `json:"applications"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return deployedApp{}, err
	}
	return parseApp(c.Applications[0])
}

// revision is 0 for a runner deployed without one (by hand, or by a binary before revisions).
func (a deployedApp) revision() int {
	n, _ := strconv.Atoi(a.RuntimeEnv.EnvVars[RevisionVariable])
	return n
}

func (a deployedApp) comparable() map[string]any {
	c := map[string]any{"working_dir": a.RuntimeEnv.WorkingDir, "pip": compactJSON(a.RuntimeEnv.Pip), "args": a.Args,
		"num_replicas": 0, "autoscaling_config": map[string]any(nil), "graceful_shutdown_timeout_s": 0.0,
		"autoscaling_policy": a.AutoscalingPolicy, "env_vars": a.envWithoutRevision()}
	if len(a.Deployments) > 0 {
		d := a.Deployments[0]
		c["num_replicas"], c["autoscaling_config"], c["graceful_shutdown_timeout_s"] = d.NumReplicas, d.AutoscalingConfig, d.GracefulShutdownTimeoutS
	}
	return c
}

// envWithoutRevision is the runner's variables but its revision, printed (sorted) to compare.
func (a deployedApp) envWithoutRevision() string {
	vars := maps.Clone(a.RuntimeEnv.EnvVars)
	delete(vars, RevisionVariable)
	if len(vars) == 0 {
		return ""
	}
	return fmt.Sprint(vars)
}

// show writes a compared config for the log, with any password in redis_url masked.
func show(c map[string]any) string {
	args, _ := c["args"].(map[string]any)
	masked := maps.Clone(args)
	if raw, ok := masked["redis_url"].(string); ok {
		if u, err := url.Parse(raw); err == nil {
			masked["redis_url"] = u.Redacted()
		}
	}
	out := maps.Clone(c)
	out["args"] = masked
	b, _ := json.Marshal(out)
	return string(b)
}

// compactJSON is raw JSON in one spelling (keys sorted, no spaces), so the config Serve shows and
// ours compare equal when they say the same; "" for none.
func compactJSON(raw json.RawMessage) string {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil || v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}
