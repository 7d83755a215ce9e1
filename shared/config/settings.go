package config

import (
	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// Settings are the use cases' rules: the spec's defaults with the configured limits applied.
func (c Config) Settings() app.Settings {
	s := app.DefaultSettings()
	s.Limits = deliberation.Limits{MaxAgents: c.MaxAgents, Allowlist: c.Allowlist}
	s.MaxActive = c.MaxActiveDeliberations
	s.PendingLimit = c.PendingLimit
	return s
}
