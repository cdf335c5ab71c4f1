package omf

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sluice-edge/sluice/connectors/pi/internal/nametmpl"
	"github.com/sluice-edge/sluice/connectors/point"
)

// The OMF model as the endpoint keeps it: types, containers, static data
// and links. A registry value is immutable once published; a definition
// request clones it, applies its objects, saves the result and publishes
// it, so data requests read it without locks and a failed request changes
// nothing.

// omfType is a type definition (OMF "Type message" object).
type omfType struct {
	ID             string          `json:"id"`
	Version        string          `json:"version,omitempty"`
	Classification string          `json:"classification,omitempty"` // dynamic, static, or "" (enums, composed types)
	Type           string          `json:"type,omitempty"`
	Name           string          `json:"name,omitempty"`
	Description    string          `json:"description,omitempty"`
	Tags           []string        `json:"tags,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	Extrapolation  string          `json:"extrapolation,omitempty"`
	Enum           []enumValue     `json:"enum,omitempty"`
	Properties     []*omfProperty  `json:"properties,omitempty"` // in message order (compound index order)
}

// omfProperty is one property of a type.
type omfProperty struct {
	ID            string          `json:"id"`
	Type          string          `json:"type,omitempty"` // array, boolean, integer, number, object, string
	Nullable      bool            `json:"nullable,omitempty"`
	Format        string          `json:"format,omitempty"`
	RefTypeID     string          `json:"reftypeid,omitempty"`
	IsIndex       bool            `json:"isindex,omitempty"`
	IsName        bool            `json:"isname,omitempty"`
	IsQuality     bool            `json:"isquality,omitempty"`
	Name          string          `json:"name,omitempty"`
	Description   string          `json:"description,omitempty"`
	UOM           string          `json:"uom,omitempty"`
	Minimum       json.RawMessage `json:"minimum,omitempty"`
	Maximum       json.RawMessage `json:"maximum,omitempty"`
	Interpolation string          `json:"interpolation,omitempty"`
}

// enumValue is one member of an enum type (OMF 1.2).
type enumValue struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

// omfContainer is a container definition.
type omfContainer struct {
	ID                string                  `json:"id"`
	TypeID            string                  `json:"typeid"`
	Name              string                  `json:"name,omitempty"`
	Description       string                  `json:"description,omitempty"`
	DataSource        string                  `json:"datasource,omitempty"`
	Tags              []string                `json:"tags,omitempty"`
	Metadata          json.RawMessage         `json:"metadata,omitempty"`
	Indexes           []string                `json:"indexes,omitempty"`
	Extrapolation     string                  `json:"extrapolation,omitempty"`
	PropertyOverrides map[string]propOverride `json:"propertyoverrides,omitempty"`

	// Derived when the container is bound to its type; not saved.
	index   *omfProperty
	quality []*omfProperty
	streams []*propStream
	roles   map[string]role // by property id
	unit    int64           // ns per unit of a numeric index
}

// role is what a property of a container's type is to its values.
type role struct {
	kind uint8 // roleIndex, roleValue, roleQuality, roleIgnored
	ps   *propStream
	p    *omfProperty
	enum []enumValue
}

const (
	roleIndex = iota + 1
	roleValue
	roleQuality
	roleIgnored
)

// propOverride is a container's override of a type property (OMF 1.2).
type propOverride struct {
	Name          string          `json:"name,omitempty"`
	Description   string          `json:"description,omitempty"`
	UOM           string          `json:"uom,omitempty"`
	Minimum       json.RawMessage `json:"minimum,omitempty"`
	Maximum       json.RawMessage `json:"maximum,omitempty"`
	Interpolation string          `json:"interpolation,omitempty"`
}

// propStream is the stream of one value property of a container.
type propStream struct {
	prop *omfProperty
	enum []enumValue // for a property whose reftypeid is an enum
	spec point.StreamSpec
	// Store state, learnt from EnsureStream during this run: eff is the
	// stream's kind in the store (0: not ensured yet), refused is set when
	// the store refuses the name.
	eff     atomic.Uint32
	refused atomic.Bool
}

// omfAsset is one instance of a static type (static data).
type omfAsset struct {
	TypeID string                     `json:"typeid"`
	Index  string                     `json:"index"`
	Values map[string]json.RawMessage `json:"values"`
}

// omfLink is a __Link value: source and target are objects with typeid
// and index, or containerid (and, in 1.2, property).
type omfLink struct {
	Source json.RawMessage `json:"source"`
	Target json.RawMessage `json:"target"`
}

// regPtr holds the published registry.
type regPtr = atomic.Pointer[registry]

// registry is one published state of the model. Maps are keyed by folded
// ids (OMF ids are case-insensitive in PI Web API).
type registry struct {
	types      map[string]*omfType
	containers map[string]*omfContainer
	assets     map[string]map[string]*omfAsset // folded typeid -> folded index -> asset
	links      map[string]*omfLink             // canonical JSON -> link
	streams    map[string]string               // stream name -> folded container id
}

func fold(id string) string {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c >= 0x80 || c >= 'A' && c <= 'Z' {
			return strings.ToLower(id)
		}
	}
	return id
}

func newRegistry() *registry {
	return &registry{
		types:      map[string]*omfType{},
		containers: map[string]*omfContainer{},
		assets:     map[string]map[string]*omfAsset{},
		links:      map[string]*omfLink{},
		streams:    map[string]string{},
	}
}

// clone copies the maps (not the immutable values) for a transaction;
// the asset maps of one type are copied when the transaction first
// changes them (see ownAssets).
func (r *registry) clone() *registry {
	return &registry{
		types:      maps.Clone(r.types),
		containers: maps.Clone(r.containers),
		assets:     maps.Clone(r.assets),
		links:      maps.Clone(r.links),
		streams:    maps.Clone(r.streams),
	}
}

// isEnum reports whether t is an enum type.
func (t *omfType) isEnum() bool { return len(t.Enum) > 0 }

// kindOf is the stream kind of a dynamic property, or 0 when the
// property cannot be a time series (arrays, objects, composed types).
func kindOf(p *omfProperty, types map[string]*omfType) (point.Kind, []enumValue) {
	if p.RefTypeID != "" {
		if t := types[fold(p.RefTypeID)]; t != nil && t.isEnum() {
			return point.KindString, t.Enum
		}
		return 0, nil
	}
	switch p.Type {
	case "number":
		return point.KindFloat, nil
	case "integer":
		return point.KindInt, nil
	case "boolean":
		return point.KindBool, nil
	case "string":
		return point.KindString, nil
	}
	return 0, nil
}

// integer ranges by format; int32 is OMF's default.
var intRanges = map[string][2]float64{
	"":       {math.MinInt32, math.MaxInt32},
	"int16":  {math.MinInt16, math.MaxInt16},
	"int32":  {math.MinInt32, math.MaxInt32},
	"int64":  {math.MinInt64, math.MaxInt64},
	"uint16": {0, math.MaxUint16},
	"uint32": {0, math.MaxUint32},
	"uint64": {0, math.MaxUint64},
}

var numberFormats = map[string]bool{"": true, "float16": true, "float32": true, "float64": true}

var stringFormats = map[string]bool{"": true, "date-time": true}

// bind derives a container's index, quality properties and streams from
// its type. It returns the problem, worded for the sender, when the
// container cannot be bound.
func (c *omfContainer) bind(t *omfType, types map[string]*omfType, tmpl *nametmpl.Template, prefix, source string, units int64) error {
	c.index, c.quality, c.streams, c.roles, c.unit = nil, nil, nil, map[string]role{}, units
	for _, p := range t.Properties {
		switch {
		case p.IsIndex:
			c.index = p
			c.roles[p.ID] = role{kind: roleIndex, p: p}
		case p.IsQuality:
			c.quality = append(c.quality, p)
			_, enum := kindOf(p, types)
			c.roles[p.ID] = role{kind: roleQuality, p: p, enum: enum}
		}
	}
	if c.index == nil {
		return fmt.Errorf("type %q has no isindex property", t.ID)
	}
	for k := range c.PropertyOverrides {
		p := t.property(k)
		if p == nil || p.IsIndex {
			return fmt.Errorf("propertyoverrides: %q is not a value property of type %q", k, t.ID)
		}
	}
	for _, p := range t.Properties {
		if p.IsIndex || p.IsQuality {
			continue
		}
		kind, enum := kindOf(p, types)
		if kind == 0 {
			c.roles[p.ID] = role{kind: roleIgnored, p: p} // not a time series; reported when the type was defined
			continue
		}
		ov := c.override(p.ID)
		pname := firstOf(ov.Name, p.Name, p.ID)
		name := prefix + tmpl.Expand(func(v string) string {
			switch v {
			case "containerid":
				return c.ID
			case "property":
				return p.ID
			case "propertyname":
				return pname
			case "typeid":
				return t.ID
			case "name":
				return firstOf(c.Name, c.ID)
			case "datasource":
				return c.DataSource
			}
			return ""
		})
		if other := c.byName(name); other != nil {
			return fmt.Errorf("properties %q and %q would both be stream %q; use {property} in the source's stream template", other.prop.ID, p.ID, name)
		}
		ps := &propStream{prop: p, enum: enum, spec: point.StreamSpec{
			Name:        name,
			Description: firstOf(ov.Description, p.Description, c.Description),
			Unit:        firstOf(ov.UOM, p.UOM),
			Kind:        kind,
			Source:      source + ":" + c.ID + "." + p.ID,
			Labels:      c.labels(t, p),
		}}
		c.streams = append(c.streams, ps)
		c.roles[p.ID] = role{kind: roleValue, p: p, ps: ps}
	}
	return nil
}

// labels are the stream labels of property p of the container: the
// container's metadata (OMF 1.2: an object of key/value pairs; the
// scalar ones are taken), then what names the stream in OMF: typeid,
// containerid, property and datasource, which win over metadata keys of
// those names.
func (c *omfContainer) labels(t *omfType, p *omfProperty) map[string]string {
	var b point.Labels
	if len(c.Metadata) > 0 {
		var md map[string]any
		if json.Unmarshal(c.Metadata, &md) == nil {
			for _, k := range slices.Sorted(maps.Keys(md)) {
				switch v := md[k].(type) {
				case string:
					b.Add(k, v)
				case float64:
					b.Add(k, strconv.FormatFloat(v, 'g', -1, 64))
				case bool:
					b.Add(k, strconv.FormatBool(v))
				}
			}
		}
	}
	b.Add("typeid", t.ID)
	b.Add("containerid", c.ID)
	b.Add("property", p.ID)
	b.Add("datasource", c.DataSource)
	m, _ := b.Map()
	return m
}

// role finds a property of the container's type by id, exactly or else
// ignoring case.
func (c *omfContainer) role(key string) (role, bool) {
	if r, ok := c.roles[key]; ok {
		return r, true
	}
	for id, r := range c.roles {
		if strings.EqualFold(id, key) {
			return r, true
		}
	}
	return role{}, false
}

func (c *omfContainer) byName(name string) *propStream {
	for _, s := range c.streams {
		if s.spec.Name == name {
			return s
		}
	}
	return nil
}

func (c *omfContainer) override(prop string) propOverride {
	if ov, ok := c.PropertyOverrides[prop]; ok {
		return ov
	}
	for k, ov := range c.PropertyOverrides {
		if strings.EqualFold(k, prop) {
			return ov
		}
	}
	return propOverride{}
}

func (t *omfType) property(id string) *omfProperty {
	for _, p := range t.Properties {
		if p.ID == id {
			return p
		}
	}
	for _, p := range t.Properties {
		if strings.EqualFold(p.ID, id) {
			return p
		}
	}
	return nil
}

func (t *omfType) indexProps() []*omfProperty {
	var out []*omfProperty
	for _, p := range t.Properties {
		if p.IsIndex {
			out = append(out, p)
		}
	}
	return out
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// registryFile is the saved form of a registry.
type registryFile struct {
	Version    int             `json:"version"`
	Types      []*omfType      `json:"types"`
	Containers []*omfContainer `json:"containers"`
	Assets     []*omfAsset     `json:"assets"`
	Links      []*omfLink      `json:"links"`
}

// marshal writes the registry in a stable order.
func (r *registry) marshal() ([]byte, error) {
	f := registryFile{Version: 1, Types: []*omfType{}, Containers: []*omfContainer{}, Assets: []*omfAsset{}, Links: []*omfLink{}}
	for _, k := range slices.Sorted(maps.Keys(r.types)) {
		f.Types = append(f.Types, r.types[k])
	}
	for _, k := range slices.Sorted(maps.Keys(r.containers)) {
		f.Containers = append(f.Containers, r.containers[k])
	}
	for _, t := range slices.Sorted(maps.Keys(r.assets)) {
		for _, k := range slices.Sorted(maps.Keys(r.assets[t])) {
			f.Assets = append(f.Assets, r.assets[t][k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.links)) {
		f.Links = append(f.Links, r.links[k])
	}
	return json.MarshalIndent(f, "", " ")
}

// loadRegistry reads a saved registry and binds its containers. A missing
// file is an empty registry.
func loadRegistry(path string, bindFn func(*omfContainer, *omfType, map[string]*omfType) error) (*registry, error) {
	r := newRegistry()
	if path == "" {
		return r, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	var f registryFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w (move it away to start with no OMF definitions)", path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%s: unknown version %d", path, f.Version)
	}
	for _, t := range f.Types {
		if t == nil || t.ID == "" {
			return nil, fmt.Errorf("%s: a type without id", path)
		}
		r.types[fold(t.ID)] = t
	}
	for _, c := range f.Containers {
		if c == nil || c.ID == "" {
			return nil, fmt.Errorf("%s: a container without id", path)
		}
		t := r.types[fold(c.TypeID)]
		if t == nil {
			return nil, fmt.Errorf("%s: container %q has unknown type %q", path, c.ID, c.TypeID)
		}
		if err := bindFn(c, t, r.types); err != nil {
			return nil, fmt.Errorf("%s: container %q: %w", path, c.ID, err)
		}
		r.containers[fold(c.ID)] = c
		for _, s := range c.streams {
			r.streams[s.spec.Name] = fold(c.ID)
		}
	}
	for _, a := range f.Assets {
		if a == nil {
			continue
		}
		m := r.assets[fold(a.TypeID)]
		if m == nil {
			m = map[string]*omfAsset{}
			r.assets[fold(a.TypeID)] = m
		}
		m[fold(a.Index)] = a
	}
	for _, l := range f.Links {
		if l != nil {
			r.links[linkKey(l)] = l
		}
	}
	return r, nil
}

func linkKey(l *omfLink) string {
	return strings.ToLower(string(l.Source)) + "\x00" + strings.ToLower(string(l.Target))
}
