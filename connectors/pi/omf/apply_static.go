package omf

// Applying static data and __Link values of data messages: both are kept
// with the definitions, not written to the sink.

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
)

// statics applies static data of a static type to next.
func (s *Source) statics(d *jdoc, obj int32, typeID, act string, next *registry, i int, out *outcome) {
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
func (s *Source) links(d *jdoc, obj int32, act string, next *registry, i int, out *outcome) {
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
