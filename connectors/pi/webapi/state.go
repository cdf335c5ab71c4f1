package webapi

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

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
		err = saveFile(s.file, b)
	}
	if err != nil {
		s.m.errors.WithLabelValues("state").Inc()
		s.logOnce("state", "saving the PI Web API state failed", "file", s.file, "err", err)
	}
}

// saveFile writes data to path atomically and durably: a temporary file,
// fsync, rename, fsync of the directory. connectors/pi/omf has the same;
// the two sources never import each other.
func saveFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename, a no-op
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if err2 := f.Close(); err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
