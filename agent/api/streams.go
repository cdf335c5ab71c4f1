package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-edge/sluice/agent/store"
	"github.com/sluice-edge/sluice/connectors/point"
)

// StreamJSON is a stream as the API shows it.
type StreamJSON struct {
	ID          uint64     `json:"id"`
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Unit        string     `json:"unit,omitempty"`
	Kind        point.Kind `json:"kind"`
	Source      string     `json:"source,omitempty"`
	Created     time.Time  `json:"created"`
	Retention   string     `json:"retention,omitempty"`
	// Labels are the stream's key/value metadata; {} when it has none.
	Labels map[string]string `json:"labels"`
}

func streamJSON(st store.Stream) StreamJSON {
	out := StreamJSON{ID: st.ID, Name: st.Name, Description: st.Description, Unit: st.Unit,
		Kind: st.Kind, Source: st.Source, Created: st.Created, Labels: st.Labels}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if st.Retention > 0 {
		out.Retention = st.Retention.String()
	}
	return out
}

// StreamList is the answer of GET /api/v1/streams.
type StreamList struct {
	Streams []StreamJSON `json:"streams"`
	// Next is the name to pass as `after` for the next page; empty on the
	// last page.
	Next string `json:"next,omitempty"`
}

func (s *Server) listStreams(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return badRequest("bad_limit", "limit: %q is not a number between 1 and 100000", v)
		}
		limit = n
	}
	sel, err := point.ParseLabelSelector(q["label"])
	if err != nil {
		return badRequest("bad_label", "%v (want label=key=value or label=key)", err)
	}
	list, more, err := s.opts.Store.ListStreams(r.Context(), store.ListOptions{Prefix: q.Get("prefix"), After: q.Get("after"), Limit: limit, Labels: sel})
	if err != nil {
		return err
	}
	out := StreamList{Streams: make([]StreamJSON, 0, len(list))}
	for _, st := range list {
		out.Streams = append(out.Streams, streamJSON(st))
	}
	if more {
		out.Next = list[len(list)-1].Name
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// CreateStreamRequest is the body of POST /api/v1/streams.
type CreateStreamRequest struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Unit        string     `json:"unit,omitempty"`
	Kind        point.Kind `json:"kind,omitempty"`
	Source      string     `json:"source,omitempty"`
	// Labels: at most 32; keys are Prometheus label names not starting
	// with __, values 1..256 bytes of text.
	Labels map[string]string `json:"labels,omitempty"`
}

func (s *Server) createStream(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var req CreateStreamRequest
	if err := dec.Decode(&req); err != nil {
		return badRequest("bad_json", "body: %v", err)
	}
	if req.Kind == 0 {
		req.Kind = point.KindFloat
	}
	st, err := s.opts.Store.CreateStream(r.Context(), point.StreamSpec{
		Name: req.Name, Description: req.Description, Unit: req.Unit, Kind: req.Kind, Source: req.Source, Labels: req.Labels,
	})
	if err != nil {
		return err
	}
	s.log.Info("stream created", "stream", st.Name, "kind", st.Kind)
	writeJSON(w, http.StatusCreated, streamJSON(st))
	return nil
}

func (s *Server) getStream(w http.ResponseWriter, r *http.Request) error {
	st, err := s.opts.Store.GetStream(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, streamJSON(st))
	return nil
}

func (s *Server) deleteStream(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := s.opts.Store.DeleteStream(r.Context(), name); err != nil {
		return err
	}
	s.log.Info("stream deleted", "stream", name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
