package wiring

import (
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// settings are the use cases' rules: the defaults with the configured limits applied.
func settings(c config.Config) app.Settings {
	s := app.DefaultSettings()
	s.Limits = deliberation.Limits{MaxAgents: c.MaxAgents, Allowlist: c.Allowlist}
	s.MaxActive = c.MaxActiveDeliberations
	s.PendingLimit = c.PendingLimit
	return s
}
