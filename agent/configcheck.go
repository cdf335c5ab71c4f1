package agent

import (
	"log/slog"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors"
)

// ConfigOptions returns the configs.Options that check every source's
// type and connector section the way New builds the source, so that
// configs.LoadWith reports every problem of a file in one pass, each
// with the file, key and line. It sees the connectors registered so far
// (cmd/sluice registers them all from init).
func ConfigOptions() configs.Options {
	sections := map[string]string{}
	for _, t := range connectors.Types() {
		r, _ := connectors.Lookup(t)
		sections[t] = r.Section
	}
	metrics := connectors.NewMetrics(nil)
	return configs.Options{
		Connectors: sections,
		CheckSource: func(s configs.SourceConfig) error {
			r, ok := connectors.Lookup(s.Type)
			if !ok {
				return nil // configs reports the type, from sections
			}
			// New does no I/O: building the source only checks its section.
			env := connectors.Env{Name: s.Name, Logger: slog.New(slog.DiscardHandler), Metrics: metrics}
			_, err := r.New(env, s.Decode)
			return err
		},
	}
}
