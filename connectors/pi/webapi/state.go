package webapi

import (
	"encoding/json"
	"errors"
	"os"
	"strings"

	"github.com/sluice-edge/sluice/connectors/internal/durable"

	"github.com/sluice-edge/sluice/connectors/pi/internal/pitime"
)

// stateFile is the saved reading position of every path.
type stateFile struct {
	Version int                    `json:"version"`
	Streams map[string]stateStream `json:"streams"` // by lower-cased path
}

type stateStream struct {
	Path   string `json:"path"`
	Stream string `json:"stream"`
	Last   string `json:"last"` // RFC 3339, ns precision
}

// loadState reads the saved positions; a missing or unreadable file
// means none (history is then read from backfill_start again, and
// re-read values replace themselves in the store).
func (s *Source) loadState() map[string]int64 {
	out := map[string]int64{}
	if s.file == "" {
		return out
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.env.Logger.Warn("reading the PI Web API state failed; starting from backfill_start", "file", s.file, "err", err)
		}
		return out
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		s.env.Logger.Warn("the PI Web API state file is damaged; starting from backfill_start", "file", s.file, "err", err)
		return out
	}
	for k, v := range f.Streams {
		if t, err := pitime.Parse(v.Last); err == nil {
			out[k] = t
		}
	}
	return out
}

// saveState writes every stream's position, atomically and durably. A
// failure is logged: the positions are then older than the store, and a
// restart reads some values again, which replace themselves.
func (s *Source) saveState() {
	if s.file == "" {
		return
	}
	f := stateFile{Version: 1, Streams: map[string]stateStream{}}
	for _, st := range s.streams {
		if st.hasLast {
			f.Streams[strings.ToLower(st.path.raw)] = stateStream{Path: st.path.raw, Stream: st.spec.Name, Last: pitime.Format(st.last)}
		}
	}
	b, err := json.MarshalIndent(f, "", " ")
	if err == nil {
		err = durable.WriteFile(s.file, b)
	}
	if err != nil {
		s.m.errors.WithLabelValues("state").Inc()
		s.logOnce("state", "saving the PI Web API state failed", "file", s.file, "err", err)
	}
}
