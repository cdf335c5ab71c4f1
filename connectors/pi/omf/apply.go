package omf

// Applying OMF messages, each request as a whole or not at all: what the
// three message types share (an object's action, creating streams in the
// sink, publishing a changed registry). Each message type has its file:
// apply_types.go, apply_containers.go, apply_data.go (values of
// containers) and apply_static.go (static data and links).

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/sluice-edge/sluice/connectors/internal/durable"
	"github.com/sluice-edge/sluice/connectors/internal/jsonscan"
	"github.com/sluice-edge/sluice/connectors/point"
)

// objectAction is the action of one object: its own "action" keyword in
// OMF 1.2, else the header's.
func objectAction(d *jsonscan.Doc, obj jsonscan.Value, h header, i int, out *outcome) (string, bool) {
	v := get(d, obj, "action")
	if v < 0 || d.Kind(v) == jsonscan.Null {
		return h.action, true
	}
	if h.version != "1.2" {
		out.warnf(i, evUndefined, "The action keyword of an object needs omfversion 1.2; the header's action %s applies.", h.action)
		return h.action, true
	}
	if d.Kind(v) == jsonscan.String {
		switch a := strings.ToLower(d.Text(v)); a {
		case "create", "update", "delete", "patch":
			return a, true
		}
	}
	out.errorf(i, evAction, 400, nil, "action: %s is not valid (want create, update, delete or patch).", d.Raw(v))
	return "", false
}

var pastTense = map[string]string{"create": "created", "update": "updated", "patch": "patched", "delete": "deleted"}

// ensureAll creates the streams of containers in the sink and learns the
// kinds of those that exist. A stream the sink refuses fails the message
// (index i, or every message for -1); a transient failure is a 503.
func (s *Source) ensureAll(ctx context.Context, run *omfRun, cs []*omfContainer, i int, out *outcome) {
	for _, c := range cs {
		for _, ps := range c.streams {
			if err := s.ensure(ctx, run, ps); err != nil {
				var se *point.StreamError
				if errors.As(err, &se) {
					out.errorf(i, evValue, 400, [][2]string{{"ContainerId", c.ID}, {"Stream", ps.spec.Name}},
						"Container %q: the store refuses stream %q: %s. Change the container id or the source's stream template.", c.ID, ps.spec.Name, se.Reason)
					continue
				}
				out.errorf(i, evStorageFailed, http.StatusServiceUnavailable, nil, "Creating stream %q failed: %v; retry later.", ps.spec.Name, err)
				return
			}
			if k := point.Kind(ps.eff.Load()); k != ps.spec.Kind {
				out.warnf(i, evUndefined, "Stream %q exists with kind %s; values of property %q are converted to it.", ps.spec.Name, k, ps.prop.ID)
			}
		}
	}
}

// ensure makes sure a stream exists, once per run, and records its kind
// in the store. It returns a *point.StreamError for a refused name.
func (s *Source) ensure(ctx context.Context, run *omfRun, ps *propStream) error {
	if ps.refused.Load() {
		return &point.StreamError{Stream: ps.spec.Name, Reason: "refused by the store"}
	}
	if ps.eff.Load() != 0 {
		return nil
	}
	err := run.sink.EnsureStream(ctx, ps.spec)
	var se *point.StreamError
	switch {
	case err == nil:
		ps.eff.Store(uint32(ps.spec.Kind))
	case errors.As(err, &se) && se.Kind.Valid():
		ps.eff.Store(uint32(se.Kind))
		s.env.Logger.Warn("OMF stream exists with another kind; converting", "stream", ps.spec.Name, "kind", se.Kind, "omf_kind", ps.spec.Kind)
		return nil
	case errors.As(err, &se):
		ps.refused.Store(true)
		return se
	}
	return err
}

// publish saves a changed registry and makes it current.
func (s *Source) publish(next *registry, out *outcome) {
	if s.file != "" {
		b, err := next.marshal()
		if err == nil {
			err = durable.WriteFile(s.file, b)
		}
		if err != nil {
			s.env.Logger.Error("saving OMF definitions failed", "file", s.file, "err", err)
			out.errorf(-1, evStorageFailed, http.StatusServiceUnavailable, nil, "Saving the definitions failed; nothing was applied. Retry later.")
			return
		}
	}
	s.reg.Store(next)
}
