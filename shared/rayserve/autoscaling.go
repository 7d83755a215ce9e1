package rayserve

import (
	"fmt"
	"math"
	"time"
)

// Autoscaling is how Serve scales the runner's replicas: with the runner's own policy
// (shared/rayjob/autoscaling.py), which asks for the replicas that hold the queue's undelivered
// entries and the deliberations in flight, as the replicas report them, between MinReplicas and
// MaxReplicas (docs/ray.md, "Replicas follow the queue").
type Autoscaling struct {
	MinReplicas, MaxReplicas int
	// UpscaleDelay and DownscaleDelay are how long the policy's wish for more, or fewer,
	// replicas must last before Serve acts on it.
	UpscaleDelay, DownscaleDelay time.Duration
}

// PolicyFunction is the runner's policy as a Serve config names it, at the application's level:
// Serve imports it in the application's runtime_env (the working_dir package holds autoscaling.py
// at its root) and pickles it by value into its controller. Not in the deployment's
// autoscaling_config: Serve's dashboard imports a deployment's policy when it validates the
// config, in its own process, which has no working_dir (Ray 2.60: ModuleNotFoundError, HTTP 500).
const PolicyFunction = "autoscaling:queue_app_policy"

// How often a replica reports its figures, and over how long Serve keeps the highest of them: a
// burst shows in the policy within about a second, and one quiet report does not end it. Serve
// deprecates metrics_interval_s for an environment variable of the whole cluster, yet still reads
// it per deployment (Ray 2.60): its default, 10 s, would leave a burst unseen for 10 s.
const (
	metricsInterval = time.Second
	lookBack        = 5 * time.Second
)

// DefaultDrain is the runner's own drain_s default: how long a stopped replica finishes what it
// holds before handing the rest back to the queue.
const DefaultDrain = 20 * time.Second

// drainMargin is what Serve gives a replica beyond its drain before killing it: the hand-back
// and Ray's own teardown.
const drainMargin = 10 * time.Second

type autoscalingConfig struct {
	MinReplicas         int     `json:"min_replicas"`
	MaxReplicas         int     `json:"max_replicas"`
	UpscaleDelayS       float64 `json:"upscale_delay_s"`
	DownscaleDelayS     float64 `json:"downscale_delay_s"`
	MetricsIntervalS    float64 `json:"metrics_interval_s"`
	LookBackPeriodS     float64 `json:"look_back_period_s"`
	AggregationFunction string  `json:"aggregation_function"`
}

func (a Autoscaling) config() (autoscalingConfig, error) {
	if a.MinReplicas < 1 || a.MaxReplicas < a.MinReplicas {
		return autoscalingConfig{}, fmt.Errorf("runner replicas between %d and %d: want 1 <= min <= max", a.MinReplicas, a.MaxReplicas)
	}
	return autoscalingConfig{MinReplicas: a.MinReplicas, MaxReplicas: a.MaxReplicas,
		UpscaleDelayS: a.UpscaleDelay.Seconds(), DownscaleDelayS: a.DownscaleDelay.Seconds(),
		MetricsIntervalS: metricsInterval.Seconds(), LookBackPeriodS: lookBack.Seconds(), AggregationFunction: "max"}, nil
}

// shutdownTimeout is Serve's graceful_shutdown_timeout_s for a replica: its drain (the drain_s
// arg, else the runner's default) and a margin.
func (a RunnerApplication) shutdownTimeout() time.Duration {
	drain := DefaultDrain
	switch v := a.Args["drain_s"].(type) {
	case int:
		drain = time.Duration(v) * time.Second
	case float64:
		drain = time.Duration(math.Round(v * float64(time.Second)))
	}
	return drain + drainMargin
}
