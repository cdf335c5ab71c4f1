package omf

// Applying container messages: create, update, patch and delete of
// containers, and the checks that keep stream names and kinds stable.

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sluice-edge/sluice/connectors/internal/jsonscan"
)

// containers applies a container message.
func (s *Source) containers(ctx context.Context, run *omfRun, d *jsonscan.Doc, objs []jsonscan.Member, h header, cred *credential, out *outcome) {
	s.defMu.Lock()
	defer s.defMu.Unlock()
	next := s.reg.Load().clone()
	var added []*omfContainer
	index := map[*omfContainer]int{}
	changed := false
	for i, m := range objs {
		act, ok := objectAction(d, m.Value, h, i, out)
		if !ok {
			continue
		}
		c, warns, ferr := parseContainer(d, m.Value, act == "delete" || act == "patch")
		if ferr != nil {
			out.errorf(i, ferr.code, ferr.status, nil, "%s", ferr.msg)
			continue
		}
		key := fold(c.ID)
		old := next.containers[key]
		params := [][2]string{{"ContainerId", c.ID}}
		if cred.may != nil && act == "delete" {
			out.errorf(i, -1004, http.StatusForbidden, params, "This token may not delete containers.")
			continue
		}
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
			c = patchContainer(d, m.Value, old, c)
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
		if st := cred.mayNot(c); st != "" {
			out.errorf(i, -1004, http.StatusForbidden, append(params, [2]string{"Stream", st}),
				"Container %q: this token may not write stream %q.", c.ID, st)
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

func patchContainer(d *jsonscan.Doc, obj jsonscan.Value, old, p *omfContainer) *omfContainer {
	c := old.clone()
	has := func(k string) bool { return get(d, obj, k) >= 0 }
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
