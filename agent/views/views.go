// Package views keeps the tenant's data views: named sets of streams
// (local, or shared by partners in a community or over a connection)
// aligned on one time grid, and exports them as CSV or JSON, one row per
// grid time and one column per stream. They live in one small JSON file
// (<data_dir>/views.json), rewritten atomically on every change.
package views

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluice-edge/sluice/agent/internal/durable"
)

// Stats are the summary statistics a view can take per interval.
var Stats = []string{"mean", "time_weighted_mean", "min", "max", "first", "last", "count", "stddev"}

// ModeInterpolated aligns by interpolation; any of Stats aligns by
// summaries.
const ModeInterpolated = "interpolated"

// Source is one column: a local stream (Stream alone), a partner's stream
// in a community (Community, Tenant, Stream) or over a connection
// (Tenant, Stream).
type Source struct {
	Community string `json:"community,omitempty"`
	Tenant    string `json:"tenant,omitempty"`
	Stream    string `json:"stream"`
	Label     string `json:"label,omitempty"` // column header; default stream or tenant/stream
}

// View is a saved data view.
type View struct {
	Name     string   `json:"name"`
	Streams  []Source `json:"streams"`
	Interval string   `json:"interval,omitempty"` // grid step ("1m"), or
	Count    int      `json:"count,omitempty"`    // that many rows over the window
	Mode     string   `json:"mode"`               // "interpolated" or a statistic of Stats
	Window   string   `json:"window"`             // default start relative to now, e.g. "-24h"
	Updated  string   `json:"updated,omitempty"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$`)

// Check validates a view and fills its defaults.
func (v *View) Check() error {
	if !nameRE.MatchString(v.Name) {
		return fmt.Errorf("name %q: want 1-100 letters, digits, '.', '_', '-' or spaces, starting with a letter or digit", v.Name)
	}
	if len(v.Streams) == 0 {
		return errors.New("streams: a view needs at least one stream")
	}
	if len(v.Streams) > 100 {
		return errors.New("streams: at most 100")
	}
	for i, s := range v.Streams {
		if s.Stream == "" {
			return fmt.Errorf("streams[%d]: stream is empty", i)
		}
		if s.Community != "" && s.Tenant == "" {
			return fmt.Errorf("streams[%d]: a community stream needs its tenant", i)
		}
	}
	if v.Mode == "" {
		v.Mode = ModeInterpolated
	}
	if v.Mode != ModeInterpolated && !slices.Contains(Stats, v.Mode) {
		return fmt.Errorf("mode %q: want interpolated or one of %s", v.Mode, strings.Join(Stats, ", "))
	}
	if (v.Interval == "") == (v.Count <= 0) {
		return errors.New("grid: give either interval (e.g. 1m) or count (rows over the window)")
	}
	if v.Count > maxRows {
		return fmt.Errorf("count: at most %d", maxRows)
	}
	if v.Interval != "" {
		if d, err := parseDuration(v.Interval); err != nil || d <= 0 {
			return fmt.Errorf("interval %q: want a positive duration like 30s, 1m or 1h", v.Interval)
		}
	}
	if v.Window == "" {
		v.Window = "-24h"
	}
	if d, err := parseDuration(strings.TrimPrefix(v.Window, "-")); err != nil || d <= 0 || !strings.HasPrefix(v.Window, "-") {
		return fmt.Errorf("window %q: want a negative duration like -24h", v.Window)
	}
	return nil
}

// Store is the views file.
type Store struct {
	path  string
	mu    sync.Mutex
	views map[string]View
}

// ErrNotFound: no view of that name.
var ErrNotFound = errors.New("no such view")

// ErrExists: a view of that name exists already.
var ErrExists = errors.New("a view of that name exists already")

// Open reads the file at path; a missing file is an empty store.
func Open(path string) (*Store, error) {
	s := &Store{path: path, views: map[string]View{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var f struct {
		Views []View `json:"views"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, v := range f.Views {
		s.views[v.Name] = v
	}
	return s, nil
}

// List returns the views sorted by name.
func (s *Store) List() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]View, 0, len(s.views))
	for _, v := range s.views {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b View) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Get returns one view.
func (s *Store) Get(name string) (View, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.views[name]
	if !ok {
		return View{}, ErrNotFound
	}
	return v, nil
}

// Put checks and stores v: create refuses an existing name, else the view
// must exist.
func (s *Store) Put(v View, create bool) (View, error) {
	if err := v.Check(); err != nil {
		return View{}, err
	}
	v.Updated = time.Now().UTC().Format(time.RFC3339)
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.views[v.Name]
	switch {
	case create && ok:
		return View{}, ErrExists
	case !create && !ok:
		return View{}, ErrNotFound
	}
	s.views[v.Name] = v
	if err := s.save(); err != nil {
		if ok {
			s.views[v.Name] = old
		} else {
			delete(s.views, v.Name)
		}
		return View{}, err
	}
	return v, nil
}

// Delete removes a view.
func (s *Store) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.views[name]
	if !ok {
		return ErrNotFound
	}
	delete(s.views, name)
	if err := s.save(); err != nil {
		s.views[name] = old
		return err
	}
	return nil
}

// save writes the file atomically: a temporary file, synced, renamed
// over the old one. Called with mu held.
func (s *Store) save() error {
	list := make([]View, 0, len(s.views))
	for _, v := range s.views {
		list = append(list, v)
	}
	slices.SortFunc(list, func(a, b View) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(struct {
		Views []View `json:"views"`
	}{list}, "", "  ")
	if err != nil {
		return err
	}
	// Durably: a view saved and then lost in a power cut would be a
	// view a user was told exists.
	return durable.WriteFile(s.path, append(b, '\n'))
}
