package omf

// Applying static data and __Link values of data messages: both are kept
// with the definitions, not written to the sink.

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/sluice-edge/sluice/connectors/internal/jsonscan"
)

// statics applies static data of a static type to next.
func (s *Source) statics(d *jsonscan.Doc, obj jsonscan.Value, typeID, act string, next *registry, i int, out *outcome) {
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
	vals := get(d, obj, "values")
	if vals < 0 || d.Kind(vals) != jsonscan.Array {
		out.errorf(i, evValue, 400, params, "values: want an array of instances of type %q.", typeID)
		return
	}
	assets := maps.Clone(next.assets[key])
	if assets == nil {
		assets = map[string]*omfAsset{}
	}
	idx := t.indexProps()
	for j, m := range d.Members(vals) {
		if d.Kind(m.Value) != jsonscan.Object {
			out.errorf(i, evValue, 400, params, "values[%d]: want an object.", j)
			continue
		}
		var parts []string
		for _, p := range idx {
			v := get(d, m.Value, p.ID)
			if v < 0 || d.Kind(v) == jsonscan.Null {
				out.errorf(i, evValue, 400, params, "values[%d]: the index %q is missing.", j, p.ID)
				parts = nil
				break
			}
			if d.Kind(v) == jsonscan.String {
				parts = append(parts, d.Text(v))
			} else {
				parts = append(parts, d.Raw(v))
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
		for _, mm := range d.Members(m.Value) {
			p := t.property(mm.Key)
			if p == nil {
				out.errorf(i, evValue, 400, append(params, [2]string{"Property", mm.Key}), "values[%d]: %q is not a property of type %q.", j, mm.Key, typeID)
				okAll = false
				continue
			}
			a.Values[p.ID] = json.RawMessage(d.Raw(mm.Value))
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
func (s *Source) links(d *jsonscan.Doc, obj jsonscan.Value, act string, next *registry, i int, out *outcome) {
	vals := get(d, obj, "values")
	if vals < 0 || d.Kind(vals) != jsonscan.Array {
		out.errorf(i, evValue, 400, nil, "values: want an array of links with source and target.")
		return
	}
	for j, m := range d.Members(vals) {
		src, dst := get(d, m.Value, "source"), get(d, m.Value, "target")
		if d.Kind(m.Value) != jsonscan.Object || src < 0 || dst < 0 || d.Kind(src) != jsonscan.Object || d.Kind(dst) != jsonscan.Object {
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
		l := &omfLink{Source: json.RawMessage(d.Raw(src)), Target: json.RawMessage(d.Raw(dst))}
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
func checkLinkEnd(d *jsonscan.Doc, end jsonscan.Value, reg *registry) string {
	r := newReader(d, end)
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
