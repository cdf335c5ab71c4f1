package omf

// Applying type messages: create, update, patch and delete of types,
// rebinding the containers of a changed type.

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/sluice-edge/sluice/connectors/internal/jsonscan"
)

// types applies a type message.
func (s *Source) types(ctx context.Context, run *omfRun, d *jsonscan.Doc, objs []jsonscan.Member, h header, cred *credential, out *outcome) {
	s.defMu.Lock()
	defer s.defMu.Unlock()
	next := s.reg.Load().clone()
	var rebound []*omfContainer
	changed := false
	for i, m := range objs {
		act, ok := objectAction(d, m.Value, h, i, out)
		if !ok {
			continue
		}
		if cred.may != nil && act != "create" {
			out.errorf(i, -1004, http.StatusForbidden, nil, "This token may create types, not %s them.", act)
			continue
		}
		if act == "delete" {
			changed = s.deleteType(d, m.Value, next, i, out) || changed
			continue
		}
		var (
			t     *omfType
			warns []string
			ferr  *fieldError
		)
		if act == "patch" {
			t, warns, ferr = patchType(d, m.Value, next.types)
		} else {
			t, warns, ferr = parseType(d, m.Value)
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
func (s *Source) deleteType(d *jsonscan.Doc, obj jsonscan.Value, next *registry, i int, out *outcome) bool {
	r := newReader(d, obj)
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
func patchType(d *jsonscan.Doc, obj jsonscan.Value, types map[string]*omfType) (*omfType, []string, *fieldError) {
	r := newReader(d, obj)
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
	has := func(k string) bool { return get(d, obj, k) >= 0 }
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
		t.Enum = parseEnum(d, get(d, obj, "enum"), r)
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
	if props := get(d, obj, "properties"); props >= 0 && d.Kind(props) != jsonscan.Null {
		r.lookup("properties")
		if d.Kind(props) != jsonscan.Object {
			return nil, nil, badf("properties: want an object, got %s", d.Kind(props))
		}
		for _, m := range d.Members(props) {
			np, w, err := parseProperty(d, m.Key, m.Value)
			if err != nil {
				return nil, nil, err
			}
			for _, x := range w {
				warnings = append(warnings, "properties."+m.Key+": "+x)
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
