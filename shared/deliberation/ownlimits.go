package deliberation

import "strconv"

// OwnLimits are what the runner and the job check on their own side, whoever wrote the request
// they read (shared/rayjob/limits.py): a queue entry or a job request outside them is an unusable
// request, recorded as a failure naming why, and no model server is called. The functions set
// them from their own configuration: in the runner's Serve config args, or in the job's
// environment beside its request.
type OwnLimits struct {
	// AllowedOrigins are the canonical origins, or ["*"]; empty allows none.
	AllowedOrigins []string
	// CallbackURL is the one wake-up target ("" for none).
	CallbackURL                                  string
	MaxAgents, MaxAnswerBytes, MaxTimeoutSeconds int
}

// OwnLimits are the limits of this deployment's runner and jobs, waking callback.
func (l Limits) OwnLimits(callback string) OwnLimits {
	o := OwnLimits{AllowedOrigins: l.Allowlist.Origins(), CallbackURL: callback, MaxAgents: l.MaxAgents,
		MaxAnswerBytes: l.MaxAnswerBytes, MaxTimeoutSeconds: maxTimeoutSeconds}
	if o.MaxAgents <= 0 {
		o.MaxAgents = DefaultMaxAgents
	}
	if o.MaxAnswerBytes <= 0 {
		o.MaxAnswerBytes = DefaultMaxAnswerBytes
	}
	return o
}

// RunnerArgs are the runner's Serve config args that carry the limits.
func (o OwnLimits) RunnerArgs() map[string]any {
	origins := o.AllowedOrigins
	if origins == nil {
		origins = []string{}
	}
	return map[string]any{"allowed_origins": origins, "callback_url": o.CallbackURL, "max_agents": o.MaxAgents,
		"max_answer_bytes": o.MaxAnswerBytes, "max_timeout_s": o.MaxTimeoutSeconds}
}

// JobEnv are the job's variables that carry the limits (its callback travels apart, as
// RAY_EXECUTOR_CALLBACK_URL).
func (o OwnLimits) JobEnv() map[string]string {
	origins := ""
	for i, origin := range o.AllowedOrigins {
		if i > 0 {
			origins += ","
		}
		origins += origin
	}
	env := map[string]string{"RAY_EXECUTOR_ALLOWED_ORIGINS": origins}
	// A cap left at zero is left to the job's default.
	for name, n := range map[string]int{"RAY_EXECUTOR_MAX_AGENTS": o.MaxAgents, "RAY_EXECUTOR_MAX_ANSWER_BYTES": o.MaxAnswerBytes,
		"RAY_EXECUTOR_MAX_TIMEOUT_S": o.MaxTimeoutSeconds} {
		if n > 0 {
			env[name] = strconv.Itoa(n)
		}
	}
	return env
}
