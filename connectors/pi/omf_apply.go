package pi

// Applying OMF messages: types, containers and data, each request as a
// whole or not at all.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/connectors"
)

// objectAction is the action of one object: its own "action" keyword in
// OMF 1.2, else the header's.
func objectAction(d *jdoc, obj int32, h header, i int, out *outcome) (string, bool) {
	v := d.get(obj, "action")
	if v < 0 || d.vals[v].kind == jNull {
		return h.action, true
	}
	if h.version != "1.2" {
		out.warnf(i, evUndefined, "The action keyword of an object needs omfversion 1.2; the header's action %s applies.", h.action)
		return h.action, true
	}
	if d.vals[v].kind == jString {
		switch a := strings.ToLower(d.vals[v].s); a {
		case "create", "update", "delete", "patch":
			return a, true
		}
	}
	out.errorf(i, evAction, 400, nil, "action: %s is not valid (want create, update, delete or patch).", d.raw(v))
	return "", false
}

var pastTense = map[string]string{"create": "created", "update": "updated", "patch": "patched", "delete": "deleted"}

// types applies a type message.
func (s *OMFSource) types(ctx context.Context, run *omfRun, d *jdoc, objs []jmember, h header, out *outcome) {
	s.defMu.Lock()
	defer s.defMu.Unlock()
	next := s.reg.Load().clone()
	var rebound []*omfContainer
	changed := false
	for i, m := range objs {
		act, ok := objectAction(d, m.v, h, i, out)
		if !ok {
			continue
		}
		if act == "delete" {
			changed = s.deleteType(d, m.v, next, i, out) || changed
			continue
		}
		var (
			t     *omfType
			warns []string
			ferr  *fieldError
		)
		if act == "patch" {
			t, warns, ferr = patchType(d, m.v, next.types)
		} else {
			t, warns, ferr = parseType(d, m.v)
		}
		if ferr != nil {
			out.errorf(i, ferr.code, ferr.status, nil, "%s", ferr.msg)
			continue
		}
		key := fold(t.ID)
		old := next.types[key]
		w2, ferr := checkType(t, next.types)
		if ferr != nil {
			out.errorf(i, ferr.code, ferr.status, [][2]string{{"TypeId", t.ID}}, "%s", ferr.msg)
			continue
		}
		for _, w := range append(warns, w2...) {
			out.warnf(i, evUndefined, "Type %q: %s", t.ID, w)
		}
		switch {
		case act == "create" && old != nil:
			if !sameJSON(old, t) {
				out.errorf(i, evCannotRepresent, 409, [][2]string{{"TypeId", t.ID}},
					"Type %q exists with another definition; update it, or delete it (and its containers) first.", t.ID)
			}
			continue
		case act != "create" && old == nil:
			out.errorf(i, 0, 404, [][2]string{{"TypeId", t.ID}}, "Type %q is not defined, so it cannot be %s.", t.ID, pastTense[act])
			continue
		case old != nil && old.Classification != t.Classification:
			out.errorf(i, evCannotRepresent, 409, [][2]string{{"TypeId", t.ID}},
				"Type %q is %s; an update cannot make it %s.", t.ID, old.Classification, t.Classification)
			continue
		}
		next.types[key] = t
		changed = true
		// Containers of an updated type are bound to the new definition;
		// their streams keep their names' kinds.
		for _, ck := range slices.Sorted(maps.Keys(next.containers)) {
			c := next.containers[ck]
			if fold(c.TypeID) != key {
				continue
			}
			nc := c.clone()
			if err := s.bind(nc, t, next.types); err != nil {
				out.errorf(i, evCannotRepresent, 409, [][2]string{{"TypeId", t.ID}, {"ContainerId", c.ID}},
					"Type %q cannot change so: container %q: %v.", t.ID, c.ID, err)
				continue
			}
			if err := checkStreams(next, c, nc); err != nil {
				out.errorf(i, evCannotRepresent, 409, [][2]string{{"TypeId", t.ID}, {"ContainerId", c.ID}},
					"Type %q cannot change so: container %q: %v.", t.ID, c.ID, err)
				continue
			}
			next.containers[ck] = nc
			rebound = append(rebound, nc)
		}
	}
	if out.failed() || !changed {
		return
	}
	s.ensureAll(ctx, run, rebound, -1, out)
	if out.failed() {
		return
	}
	s.publish(next, out)
}

// deleteType removes a type that nothing uses.
func (s *OMFSource) deleteType(d *jdoc, obj int32, next *registry, i int, out *outcome) bool {
	r := d.reader(obj)
	id := r.id("id")
	if r.err != nil {
		out.errorf(i, r.err.code, r.err.status, nil, "%s", r.err.msg)
		return false
	}
	key := fold(id)
	if next.types[key] == nil {
		out.errorf(i, 0, 404, [][2]string{{"TypeId", id}}, "Type %q is not defined.", id)
		return false
	}
	for _, ck := range slices.Sorted(maps.Keys(next.containers)) {
		if c := next.containers[ck]; fold(c.TypeID) == key {
			out.errorf(i, evCannotRepresent, 409, [][2]string{{"TypeId", id}, {"ContainerId", c.ID}},
				"Type %q is used by container %q; delete the container first.", id, c.ID)
			return false
		}
	}
	for _, tk := range slices.Sorted(maps.Keys(next.types)) {
		t := next.types[tk]
		for _, p := range t.Properties {
			if fold(p.RefTypeID) == key {
				out.errorf(i, evCannotRepresent, 409, [][2]string{{"TypeId", id}},
					"Type %q is referenced by type %q (property %q).", id, t.ID, p.ID)
				return false
			}
		}
	}
	if len(next.assets[key]) > 0 {
		out.errorf(i, evCannotRepresent, 409, [][2]string{{"TypeId", id}},
			"Type %q has %d static data instances; delete them first.", id, len(next.assets[key]))
		return false
	}
	delete(next.types, key)
	delete(next.assets, key)
	return true
}

// patchType applies an OMF 1.2 patch to a type: the keywords present
// replace the type's, and the properties present replace or add
// properties by id; classification and type cannot change.
func patchType(d *jdoc, obj int32, types map[string]*omfType) (*omfType, []string, *fieldError) {
	r := d.reader(obj)
	id := r.id("id")
	if r.err != nil {
		return nil, nil, r.err
	}
	old := types[fold(id)]
	if old == nil {
		return nil, nil, &fieldError{code: 0, status: 404, msg: fmt.Sprintf("Type %q is not defined, so it cannot be patched.", id)}
	}
	t := *old
	t.Properties = append([]*omfProperty(nil), old.Properties...)
	has := func(k string) bool { return d.get(obj, k) >= 0 }
	for k, dst := range map[string]*string{"version": &t.Version, "name": &t.Name, "description": &t.Description, "extrapolation": &t.Extrapolation} {
		if has(k) {
			*dst = r.str(k)
		}
	}
	if has("tags") {
		t.Tags = r.strings("tags")
	}
	if has("metadata") {
		t.Metadata = r.raw("metadata")
	}
	if has("enum") {
		t.Enum = parseEnum(d, d.get(obj, "enum"), r)
	}
	for k, v := range map[string]string{"classification": old.Classification, "type": old.Type} {
		if has(k) && !strings.EqualFold(r.str(k), v) {
			r.fail("%s: a patch cannot change it", k)
		}
	}
	r.lookup("action")
	if r.err != nil {
		return nil, nil, r.err
	}
	var warnings []string
	if props := d.get(obj, "properties"); props >= 0 && d.vals[props].kind != jNull {
		r.lookup("properties")
		if d.vals[props].kind != jObject {
			return nil, nil, badf("properties: want an object, got %s", d.vals[props].kind)
		}
		for _, m := range d.members(props) {
			np, w, err := parseProperty(d, m.key, m.v)
			if err != nil {
				return nil, nil, err
			}
			for _, x := range w {
				warnings = append(warnings, "properties."+m.key+": "+x)
			}
			replaced := false
			for j, op := range t.Properties {
				if strings.EqualFold(op.ID, np.ID) {
					t.Properties[j], replaced = np, true
				}
			}
			if !replaced {
				t.Properties = append(t.Properties, np)
			}
		}
	}
	r.lowerKnown()
	for _, k := range r.unknown() {
		warnings = append(warnings, fmt.Sprintf("keyword %q is not supported and was ignored", k))
	}
	return &t, warnings, nil
}

// checkStreams checks that rebinding container old as nc keeps the kind
// of each stream that stays, and that its new stream names are free.
func checkStreams(reg *registry, old, nc *omfContainer) error {
	for _, ns := range nc.streams {
		if os := old.byName(ns.spec.Name); os != nil && os.spec.Kind != ns.spec.Kind {
			return fmt.Errorf("stream %q would change from %s to %s", ns.spec.Name, os.spec.Kind, ns.spec.Kind)
		}
		if owner, ok := reg.streams[ns.spec.Name]; ok && owner != fold(old.ID) {
			return fmt.Errorf("stream %q is already container %q's", ns.spec.Name, reg.containers[owner].ID)
		}
	}
	for _, os := range old.streams {
		delete(reg.streams, os.spec.Name)
	}
	for _, ns := range nc.streams {
		reg.streams[ns.spec.Name] = fold(nc.ID)
	}
	return nil
}

func (c *omfContainer) clone() *omfContainer {
	return &omfContainer{ID: c.ID, TypeID: c.TypeID, Name: c.Name, Description: c.Description, DataSource: c.DataSource,
		Tags: c.Tags, Metadata: c.Metadata, Indexes: c.Indexes, Extrapolation: c.Extrapolation, PropertyOverrides: c.PropertyOverrides}
}

// containers applies a container message.
func (s *OMFSource) containers(ctx context.Context, run *omfRun, d *jdoc, objs []jmember, h header, out *outcome) {
	s.defMu.Lock()
	defer s.defMu.Unlock()
	next := s.reg.Load().clone()
	var added []*omfContainer
	index := map[*omfContainer]int{}
	changed := false
	for i, m := range objs {
		act, ok := objectAction(d, m.v, h, i, out)
		if !ok {
			continue
		}
		c, warns, ferr := parseContainer(d, m.v, act == "delete" || act == "patch")
		if ferr != nil {
			out.errorf(i, ferr.code, ferr.status, nil, "%s", ferr.msg)
			continue
		}
		key := fold(c.ID)
		old := next.containers[key]
		params := [][2]string{{"ContainerId", c.ID}}
		if act == "delete" {
			if old == nil {
				out.errorf(i, 0, 404, params, "Container %q is not defined.", c.ID)
				continue
			}
			for _, st := range old.streams {
				delete(next.streams, st.spec.Name)
			}
			delete(next.containers, key)
			changed = true
			continue
		}
		if act != "create" && old == nil {
			out.errorf(i, 0, 404, params, "Container %q is not defined, so it cannot be %s.", c.ID, pastTense[act])
			continue
		}
		if act == "patch" {
			c = patchContainer(d, m.v, old, c)
		} else if c.TypeID == "" {
			out.errorf(i, evValue, 400, params, "typeid: missing or empty")
			continue
		}
		for _, w := range warns {
			out.warnf(i, evUndefined, "Container %q: %s", c.ID, w)
		}
		t := next.types[fold(c.TypeID)]
		switch {
		case t == nil:
			out.errorf(i, 0, 404, append(params, [2]string{"TypeId", c.TypeID}), "Type %q is not defined.", c.TypeID)
			continue
		case t.Classification != "dynamic":
			out.errorf(i, evValue, 400, append(params, [2]string{"TypeId", c.TypeID}),
				"Type %q is not dynamic; containers hold time series of dynamic types.", c.TypeID)
			continue
		case act == "create" && old != nil:
			if !sameJSON(old, c) {
				out.errorf(i, evCannotRepresent, 409, params,
					"Container %q exists with another definition; update it, or delete it first.", c.ID)
			}
			continue
		case old != nil && fold(old.TypeID) != fold(c.TypeID):
			out.errorf(i, evCannotRepresent, 409, params,
				"Container %q has type %q; an update cannot change its type (delete and create it).", c.ID, old.TypeID)
			continue
		}
		if err := s.bind(c, t, next.types); err != nil {
			out.errorf(i, evValue, 400, params, "Container %q: %v.", c.ID, err)
			continue
		}
		from := old
		if from == nil {
			from = &omfContainer{ID: c.ID}
		}
		if err := checkStreams(next, from, c); err != nil {
			out.errorf(i, evCannotRepresent, 409, params, "Container %q: %v.", c.ID, err)
			continue
		}
		next.containers[key] = c
		added = append(added, c)
		index[c] = i
		changed = true
	}
	if out.failed() || !changed {
		return
	}
	for _, c := range added {
		s.ensureAll(ctx, run, []*omfContainer{c}, index[c], out)
	}
	if out.failed() {
		return
	}
	s.publish(next, out)
}

func patchContainer(d *jdoc, obj int32, old, p *omfContainer) *omfContainer {
	c := old.clone()
	has := func(k string) bool { return d.get(obj, k) >= 0 }
	if has("name") {
		c.Name = p.Name
	}
	if has("description") {
		c.Description = p.Description
	}
	if has("datasource") {
		c.DataSource = p.DataSource
	}
	if has("tags") {
		c.Tags = p.Tags
	}
	if has("metadata") {
		c.Metadata = p.Metadata
	}
	if has("indexes") {
		c.Indexes = p.Indexes
	}
	if has("extrapolation") {
		c.Extrapolation = p.Extrapolation
	}
	if has("propertyoverrides") {
		ov := map[string]propOverride{}
		for k, v := range old.PropertyOverrides {
			ov[k] = v
		}
		for k, v := range p.PropertyOverrides {
			ov[k] = v
		}
		c.PropertyOverrides = ov
	}
	return c
}

// ensureAll creates the streams of containers in the sink and learns the
// kinds of those that exist. A stream the sink refuses fails the message
// (index i, or every message for -1); a transient failure is a 503.
func (s *OMFSource) ensureAll(ctx context.Context, run *omfRun, cs []*omfContainer, i int, out *outcome) {
	for _, c := range cs {
		for _, ps := range c.streams {
			if err := s.ensure(ctx, run, ps); err != nil {
				var se *connectors.StreamError
				if errors.As(err, &se) {
					out.errorf(i, evValue, 400, [][2]string{{"ContainerId", c.ID}, {"Stream", ps.spec.Name}},
						"Container %q: the store refuses stream %q: %s. Change the container id or the source's stream template.", c.ID, ps.spec.Name, se.Reason)
					continue
				}
				out.errorf(i, evStorageFailed, http.StatusServiceUnavailable, nil, "Creating stream %q failed: %v; retry later.", ps.spec.Name, err)
				return
			}
			if k := connectors.Kind(ps.eff.Load()); k != ps.spec.Kind {
				out.warnf(i, evUndefined, "Stream %q exists with kind %s; values of property %q are converted to it.", ps.spec.Name, k, ps.prop.ID)
			}
		}
	}
}

// ensure makes sure a stream exists, once per run, and records its kind
// in the store. It returns a *connectors.StreamError for a refused name.
func (s *OMFSource) ensure(ctx context.Context, run *omfRun, ps *propStream) error {
	if ps.refused.Load() {
		return &connectors.StreamError{Stream: ps.spec.Name, Reason: "refused by the store"}
	}
	if ps.eff.Load() != 0 {
		return nil
	}
	err := run.sink.EnsureStream(ctx, ps.spec)
	var se *connectors.StreamError
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
func (s *OMFSource) publish(next *registry, out *outcome) {
	if s.file != "" {
		b, err := next.marshal()
		if err == nil {
			err = saveFile(s.file, b)
		}
		if err != nil {
			s.env.Logger.Error("saving OMF definitions failed", "file", s.file, "err", err)
			out.errorf(-1, evStorageFailed, http.StatusServiceUnavailable, nil, "Saving the definitions failed; nothing was applied. Retry later.")
			return
		}
	}
	s.reg.Store(next)
}

// data applies a data message: values of containers are written to the
// sink; static data and links are kept with the definitions.
func (s *OMFSource) data(ctx context.Context, run *omfRun, d *jdoc, objs []jmember, h header, cred *credential, out *outcome) {
	// Static data and links change the registry: such requests hold the
	// definitions lock throughout, so that they apply whole or not at all.
	var next *registry
	cur := s.reg.Load()
	for _, m := range objs {
		if d.get(m.v, "containerid") < 0 {
			s.defMu.Lock()
			defer s.defMu.Unlock()
			cur = s.reg.Load()
			next = cur.clone()
			break
		}
	}
	bp := s.points.Get().(*[]connectors.Point)
	batch := (*bp)[:0]
	touched := map[*propStream]bool{}
	for i, m := range objs {
		act, ok := objectAction(d, m.v, h, i, out)
		if !ok {
			continue
		}
		if cred.dataOnly && act == "delete" {
			out.errorf(i, -1004, http.StatusForbidden, nil, "This credential may not delete.")
			continue
		}
		obj := m.v
		if cv := d.get(obj, "containerid"); cv >= 0 {
			if d.vals[cv].kind != jString {
				out.errorf(i, evValue, 400, nil, "containerid: want a string, got %s.", d.vals[cv].kind)
				continue
			}
			id := d.vals[cv].s
			c := cur.containers[fold(id)]
			params := [][2]string{{"ContainerId", id}}
			if c == nil {
				out.errorf(i, 0, 404, params, "Container %q is not defined.", id)
				continue
			}
			if tv := d.get(obj, "typeid"); tv >= 0 && d.vals[tv].kind == jString && fold(d.vals[tv].s) != fold(c.TypeID) {
				out.errorf(i, evValue, 400, params, "Container %q has type %q, not %q.", id, c.TypeID, d.vals[tv].s)
				continue
			}
			if act == "delete" {
				out.errorf(i, evNotSupported, http.StatusNotImplemented, params,
					"Deleting values is not supported: the store keeps history; send new values to correct old ones (last write wins).")
				continue
			}
			vals := d.get(obj, "values")
			if vals < 0 || d.vals[vals].kind != jArray {
				out.errorf(i, evValue, 400, params, "values: want an array of values of type %q.", c.TypeID)
				continue
			}
			batch = s.values(d, c, vals, i, out, batch, touched)
			continue
		}
		if cred.dataOnly {
			out.errorf(i, -1004, http.StatusForbidden, nil, "This credential may only send values of containers, not static data or links.")
			continue
		}
		tv := d.get(obj, "typeid")
		if tv < 0 {
			if d.get(obj, "properties") >= 0 {
				out.warnf(i, evUndefined, "Type-less static data (properties) is not stored.")
				continue
			}
			out.errorf(i, evValue, 400, nil, "A data message needs containerid (time series) or typeid (static data, links).")
			continue
		}
		if d.vals[tv].kind != jString {
			out.errorf(i, evValue, 400, nil, "typeid: want a string, got %s.", d.vals[tv].kind)
			continue
		}
		if fold(d.vals[tv].s) == "__link" {
			s.links(d, obj, act, next, i, out)
			continue
		}
		s.statics(d, obj, d.vals[tv].s, act, next, i, out)
	}
	s.m.points.Add(float64(len(batch)))
	if out.failed() {
		*bp = batch[:0]
		s.points.Put(bp)
		return
	}
	if len(batch) > 0 {
		var err error
		batch, err = s.prepare(ctx, run, batch, touched, out)
		if err == nil && len(batch) > 0 {
			err = s.write(ctx, run, batch)
		}
		if err != nil {
			out.errorf(-1, evStorageFailed, http.StatusServiceUnavailable, nil, "Storing the values failed (%v); nothing is acknowledged. Retry later.", err)
			return // the sink may still hold the batch: do not reuse it
		}
	}
	*bp = batch[:0]
	s.points.Put(bp)
	if next != nil {
		s.publish(next, out)
	}
}

// values decodes the values of one container into points.
func (s *OMFSource) values(d *jdoc, c *omfContainer, arr int32, i int, out *outcome, batch []connectors.Point, touched map[*propStream]bool) []connectors.Point {
	bad := 0
	for j, m := range d.members(arr) {
		if bad >= maxEventsPerMessage {
			break
		}
		if d.vals[m.v].kind != jObject {
			out.errorf(i, evValue, 400, nil, "values[%d]: want an object, got %s.", j, d.vals[m.v].kind)
			bad++
			continue
		}
		start := len(batch)
		var t int64
		haveTime := false
		q := connectors.QualityGood
		for _, mm := range d.members(m.v) {
			ro, ok := c.role(mm.key)
			switch {
			case !ok:
				out.errorf(i, evValue, 400, [][2]string{{"ContainerId", c.ID}, {"Property", mm.key}},
					"values[%d]: %q is not a property of type %q.", j, mm.key, c.TypeID)
				bad++
			case ro.kind == roleValue:
				v, skip, verr := convertValue(d, mm.v, ro.ps)
				if verr != nil {
					if verr.code == evRange && d.vals[mm.v].kind == jString {
						// NaN and infinities: dropped, not an error.
						s.m.dropped.WithLabelValues("not_finite").Inc()
						continue
					}
					out.errorf(i, verr.code, 400, [][2]string{{"ContainerId", c.ID}, {"Property", mm.key}}, "values[%d].%s: %s.", j, mm.key, verr.msg)
					bad++
					continue
				}
				if !skip {
					batch = append(batch, connectors.Point{Stream: ro.ps.spec.Name, Value: v})
					touched[ro.ps] = true
				}
			case ro.kind == roleIndex:
				var err error
				t, err = c.indexTime(d, mm.v)
				if err != nil {
					out.errorf(i, evValue, 400, [][2]string{{"ContainerId", c.ID}, {"Property", mm.key}}, "values[%d].%s: %v.", j, mm.key, err)
					bad++
					continue
				}
				haveTime = true
			case ro.kind == roleQuality:
				qv, ok := qualityOf(d, mm.v, ro.enum)
				if !ok {
					out.errorf(i, evValue, 400, [][2]string{{"ContainerId", c.ID}, {"Property", mm.key}}, "values[%d].%s: %s is not a quality.", j, mm.key, d.raw(mm.v))
					bad++
					continue
				}
				q = worse(q, qv)
			}
		}
		if !haveTime {
			out.errorf(i, evValue, 400, [][2]string{{"ContainerId", c.ID}}, "values[%d]: the index %q is missing.", j, c.index.ID)
			bad++
			batch = batch[:start]
			continue
		}
		for k := start; k < len(batch); k++ {
			batch[k].Time, batch[k].Quality = t, q
		}
	}
	return batch
}

// indexTime converts an index value to ns since the epoch.
func (c *omfContainer) indexTime(d *jdoc, v int32) (int64, error) {
	x := &d.vals[v]
	switch {
	case x.kind == jString && c.index.Type == "string":
		t, err := parseTime(x.s)
		if err != nil {
			return 0, fmt.Errorf("%q is not an ISO 8601 date-time", x.s)
		}
		return t, nil
	case x.kind == jNumber && c.index.Type != "string":
		if n, err := strconv.ParseInt(x.s, 10, 64); err == nil {
			if n > math.MaxInt64/c.unit || n < math.MinInt64/c.unit {
				return 0, fmt.Errorf("%s is out of range", x.s)
			}
			return n * c.unit, nil
		}
		f, err := strconv.ParseFloat(x.s, 64)
		if f *= float64(c.unit); err != nil || f >= math.MaxInt64 || f < math.MinInt64 || math.IsNaN(f) {
			return 0, fmt.Errorf("%s is out of range", x.s)
		}
		return int64(f), nil
	}
	return 0, fmt.Errorf("a %s is not a value of the index (%s)", x.kind, describeType(c.index))
}

// prepare ensures the streams of a batch (once per run) and converts
// values to the kinds of streams that exist with another kind; points
// that do not convert, or whose stream the store refuses, are dropped
// and counted.
func (s *OMFSource) prepare(ctx context.Context, run *omfRun, batch []connectors.Point, touched map[*propStream]bool, out *outcome) ([]connectors.Point, error) {
	odd := map[string]connectors.Kind{} // stream -> kind in the store, for streams that differ
	for ps := range touched {
		if err := s.ensure(ctx, run, ps); err != nil {
			var se *connectors.StreamError
			if !errors.As(err, &se) {
				return nil, err
			}
			odd[ps.spec.Name] = 0
			continue
		}
		if k := connectors.Kind(ps.eff.Load()); k != ps.spec.Kind {
			odd[ps.spec.Name] = k
		}
	}
	if len(odd) == 0 {
		return batch, nil
	}
	kept := batch[:0]
	dropped := 0
	for _, p := range batch {
		k, ok := odd[p.Stream]
		if !ok {
			kept = append(kept, p)
			continue
		}
		if k == 0 {
			s.m.dropped.WithLabelValues("refused").Inc()
			dropped++
			continue
		}
		v, err := p.Value.Convert(k)
		if err != nil || v.Kind == connectors.KindFloat && (math.IsNaN(v.F) || math.IsInf(v.F, 0)) {
			s.m.dropped.WithLabelValues("kind_mismatch").Inc()
			dropped++
			continue
		}
		p.Value = v
		kept = append(kept, p)
	}
	if dropped > 0 {
		out.warnf(-1, evUndefined, "%d values were not stored: their streams are refused by the store or exist with a kind they do not convert to.", dropped)
	}
	return kept, nil
}

// write stores a batch durably, within write_timeout.
func (s *OMFSource) write(ctx context.Context, run *omfRun, batch []connectors.Point) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout.Std())
	defer cancel()
	s.m.queue.Add(float64(len(batch)))
	defer s.m.queue.Sub(float64(len(batch)))
	start := time.Now()
	if err := run.sink.Write(wctx, batch); err != nil {
		s.env.Logger.Warn("OMF write failed; the sender is told to retry", "points", len(batch), "err", err)
		return err
	}
	s.m.batch.Observe(time.Since(start).Seconds())
	s.m.written.Add(float64(len(batch)))
	return nil
}

// statics applies static data of a static type to next.
func (s *OMFSource) statics(d *jdoc, obj int32, typeID, act string, next *registry, i int, out *outcome) {
	key := fold(typeID)
	t := next.types[key]
	params := [][2]string{{"TypeId", typeID}}
	switch {
	case t == nil:
		out.errorf(i, 0, 404, params, "Type %q is not defined.", typeID)
		return
	case t.Classification == "dynamic":
		out.errorf(i, evValue, 400, params, "Type %q is dynamic: send its values with the containerid of a container.", typeID)
		return
	case t.Classification != "static":
		out.errorf(i, evValue, 400, params, "Type %q is not a static type.", typeID)
		return
	}
	vals := d.get(obj, "values")
	if vals < 0 || d.vals[vals].kind != jArray {
		out.errorf(i, evValue, 400, params, "values: want an array of instances of type %q.", typeID)
		return
	}
	assets := maps.Clone(next.assets[key])
	if assets == nil {
		assets = map[string]*omfAsset{}
	}
	idx := t.indexProps()
	for j, m := range d.members(vals) {
		if d.vals[m.v].kind != jObject {
			out.errorf(i, evValue, 400, params, "values[%d]: want an object.", j)
			continue
		}
		var parts []string
		for _, p := range idx {
			v := d.get(m.v, p.ID)
			if v < 0 || d.vals[v].kind == jNull {
				out.errorf(i, evValue, 400, params, "values[%d]: the index %q is missing.", j, p.ID)
				parts = nil
				break
			}
			if d.vals[v].kind == jString {
				parts = append(parts, d.vals[v].s)
			} else {
				parts = append(parts, d.raw(v))
			}
		}
		if parts == nil {
			continue
		}
		index := strings.Join(parts, "|")
		ak := fold(index)
		old := assets[ak]
		if act == "delete" {
			if old == nil {
				out.errorf(i, 0, 404, append(params, [2]string{"Index", index}), "values[%d]: %q has no instance %q.", j, typeID, index)
				continue
			}
			delete(assets, ak)
			continue
		}
		a := &omfAsset{TypeID: t.ID, Index: index, Values: map[string]json.RawMessage{}}
		if act == "patch" && old != nil {
			for k, v := range old.Values {
				a.Values[k] = v
			}
		}
		okAll := true
		for _, mm := range d.members(m.v) {
			p := t.property(mm.key)
			if p == nil {
				out.errorf(i, evValue, 400, append(params, [2]string{"Property", mm.key}), "values[%d]: %q is not a property of type %q.", j, mm.key, typeID)
				okAll = false
				continue
			}
			a.Values[p.ID] = json.RawMessage(d.raw(mm.v))
		}
		if !okAll {
			continue
		}
		switch {
		case act == "create" && old != nil && !sameJSON(old, a):
			out.errorf(i, evCannotRepresent, 409, append(params, [2]string{"Index", index}),
				"values[%d]: instance %q of %q exists with other values; update it instead.", j, index, typeID)
			continue
		case (act == "update" || act == "patch") && old == nil:
			out.errorf(i, 0, 404, append(params, [2]string{"Index", index}), "values[%d]: %q has no instance %q.", j, typeID, index)
			continue
		}
		assets[ak] = a
	}
	next.assets[key] = assets
}

// links applies __Link values to next.
func (s *OMFSource) links(d *jdoc, obj int32, act string, next *registry, i int, out *outcome) {
	vals := d.get(obj, "values")
	if vals < 0 || d.vals[vals].kind != jArray {
		out.errorf(i, evValue, 400, nil, "values: want an array of links with source and target.")
		return
	}
	for j, m := range d.members(vals) {
		src, dst := d.get(m.v, "source"), d.get(m.v, "target")
		if d.vals[m.v].kind != jObject || src < 0 || dst < 0 || d.vals[src].kind != jObject || d.vals[dst].kind != jObject {
			out.errorf(i, evValue, 400, nil, "values[%d]: a link needs source and target objects.", j)
			continue
		}
		if msg := checkLinkEnd(d, dst, next); msg != "" {
			out.errorf(i, 0, 404, nil, "values[%d].target: %s.", j, msg)
			continue
		}
		if msg := checkLinkEnd(d, src, next); msg != "" {
			out.errorf(i, 0, 404, nil, "values[%d].source: %s.", j, msg)
			continue
		}
		l := &omfLink{Source: json.RawMessage(d.raw(src)), Target: json.RawMessage(d.raw(dst))}
		k := linkKey(l)
		if act == "delete" {
			if next.links[k] == nil {
				out.errorf(i, 0, 404, nil, "values[%d]: no such link.", j)
				continue
			}
			delete(next.links, k)
			continue
		}
		next.links[k] = l
	}
}

// checkLinkEnd checks that a link end names something defined: a
// container, or a type with an instance index ("index" of the root
// object is the type itself: {"typeid": T, "index": "_ROOT"}).
func checkLinkEnd(d *jdoc, end int32, reg *registry) string {
	r := d.reader(end)
	if cid := r.str("containerid"); cid != "" {
		if reg.containers[fold(cid)] == nil {
			return fmt.Sprintf("container %q is not defined", cid)
		}
		return ""
	}
	tid := r.str("typeid")
	if tid == "" {
		return "want typeid and index, or containerid"
	}
	if reg.types[fold(tid)] == nil {
		return fmt.Sprintf("type %q is not defined", tid)
	}
	return ""
}
