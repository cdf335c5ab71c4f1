package omf

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sluice-edge/sluice/connectors/internal/jsonscan"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Decoding of type and container objects from a parsed body. Keywords
// match regardless of case, as in PI Web API. Unknown keywords are
// ignored with a warning: OMF lets endpoints ignore what they do not
// support, and senders add their own.

// fieldError is a problem with one keyword of an object.
type fieldError struct {
	code, status int
	msg          string
}

func (e *fieldError) Error() string { return e.msg }

func badf(format string, args ...any) *fieldError {
	return &fieldError{code: evValue, status: 400, msg: fmt.Sprintf(format, args...)}
}

// reader reads the keywords of one object and remembers which it saw.
type reader struct {
	d     *jsonscan.Doc
	obj   jsonscan.Value
	known map[string]bool
	err   *fieldError
}

func newReader(d *jsonscan.Doc, obj jsonscan.Value) *reader {
	return &reader{d: d, obj: obj, known: map[string]bool{}}
}

// get looks a member of object obj up by name: exactly, else ignoring case
// (OMF keywords and ids are case-insensitive in PI Web API). Of duplicate
// names the first counts. It returns jsonscan.Missing when absent.
func get(d *jsonscan.Doc, obj jsonscan.Value, key string) jsonscan.Value {
	if d.Kind(obj) != jsonscan.Object {
		return jsonscan.Missing
	}
	ms := d.Members(obj)
	for _, m := range ms {
		if m.Key == key {
			return m.Value
		}
	}
	for _, m := range ms {
		if strings.EqualFold(m.Key, key) {
			return m.Value
		}
	}
	return jsonscan.Missing
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = badf(format, args...)
	}
}

func (r *reader) lookup(key string) jsonscan.Value {
	r.known[key] = true
	return get(r.d, r.obj, key)
}

// str reads a string keyword; null is absent.
func (r *reader) str(key string) string {
	v := r.lookup(key)
	if v < 0 || r.d.Kind(v) == jsonscan.Null {
		return ""
	}
	if r.d.Kind(v) != jsonscan.String {
		r.fail("%s: want a string, got %s", key, r.d.Kind(v))
		return ""
	}
	return r.d.Text(v)
}

// id reads an identifier: required, non-empty, without surrounding space.
func (r *reader) id(key string) string {
	s := r.str(key)
	switch {
	case r.err != nil:
	case s == "":
		r.fail("%s: missing or empty", key)
	case strings.TrimSpace(s) != s:
		r.fail("%s: %q has leading or trailing white space", key, s)
	}
	return s
}

func (r *reader) boolean(key string) bool {
	v := r.lookup(key)
	if v < 0 || r.d.Kind(v) == jsonscan.Null {
		return false
	}
	if r.d.Kind(v) != jsonscan.Bool {
		r.fail("%s: want true or false, got %s", key, r.d.Kind(v))
		return false
	}
	return r.d.Bool(v)
}

func (r *reader) strings(key string) []string {
	v := r.lookup(key)
	if v < 0 || r.d.Kind(v) == jsonscan.Null {
		return nil
	}
	if r.d.Kind(v) != jsonscan.Array {
		r.fail("%s: want an array of strings, got %s", key, r.d.Kind(v))
		return nil
	}
	var out []string
	for _, m := range r.d.Members(v) {
		if r.d.Kind(m.Value) != jsonscan.String {
			r.fail("%s: want an array of strings, found a %s", key, r.d.Kind(m.Value))
			return nil
		}
		out = append(out, r.d.Text(m.Value))
	}
	return out
}

// raw keeps a keyword's JSON as sent (metadata, minimum, maximum).
func (r *reader) raw(key string) json.RawMessage {
	v := r.lookup(key)
	if v < 0 || r.d.Kind(v) == jsonscan.Null {
		return nil
	}
	return json.RawMessage(r.d.Raw(v))
}

// unknown lists the object's keywords that were not read.
func (r *reader) unknown() []string {
	var out []string
	for _, m := range r.d.Members(r.obj) {
		if r.known[strings.ToLower(m.Key)] {
			continue
		}
		out = append(out, m.Key)
	}
	return out
}

// lowerKnown makes known case-insensitive once all keys are read.
func (r *reader) lowerKnown() {
	for k := range r.known {
		r.known[strings.ToLower(k)] = true
	}
}

// parseType decodes a type object. Warnings are problems that do not stop
// the type from being defined.
func parseType(d *jsonscan.Doc, obj jsonscan.Value) (t *omfType, warnings []string, err *fieldError) {
	r := newReader(d, obj)
	t = &omfType{
		ID:             r.id("id"),
		Version:        r.str("version"),
		Classification: strings.ToLower(r.str("classification")),
		Type:           strings.ToLower(r.str("type")),
		Name:           r.str("name"),
		Description:    r.str("description"),
		Tags:           r.strings("tags"),
		Metadata:       r.raw("metadata"),
		Extrapolation:  r.str("extrapolation"),
	}
	r.lookup("action")
	r.lookup("isdynamic") // harmless leftovers of early OMF samples
	if ev := r.lookup("enum"); ev >= 0 && d.Kind(ev) != jsonscan.Null {
		t.Enum = parseEnum(d, ev, r)
	}
	props := r.lookup("properties")
	if r.err != nil {
		return nil, nil, r.err
	}
	switch t.Classification {
	case "dynamic", "static":
		if t.Type != "object" {
			return nil, nil, badf("type: want \"object\" for a %s type, got %q", t.Classification, t.Type)
		}
	case "":
		if !t.isEnum() && t.Type != "object" {
			return nil, nil, badf("classification: missing (want dynamic or static)")
		}
	default:
		return nil, nil, badf("classification: unknown %q (want dynamic or static)", t.Classification)
	}
	if t.isEnum() {
		if props >= 0 && d.Kind(props) != jsonscan.Null {
			return nil, nil, badf("an enum type has no properties")
		}
	} else {
		if props < 0 || d.Kind(props) != jsonscan.Object || len(d.Members(props)) == 0 {
			return nil, nil, badf("properties: want an object with at least one property")
		}
		for _, m := range d.Members(props) {
			p, w, err := parseProperty(d, m.Key, m.Value)
			if err != nil {
				return nil, nil, err
			}
			for _, x := range w {
				warnings = append(warnings, "properties."+m.Key+": "+x)
			}
			if t.property(p.ID) != nil {
				return nil, nil, badf("properties: %q is defined twice (ids are case-insensitive)", p.ID)
			}
			t.Properties = append(t.Properties, p)
		}
	}
	r.lowerKnown()
	for _, k := range r.unknown() {
		warnings = append(warnings, fmt.Sprintf("keyword %q is not supported and was ignored", k))
	}
	return t, warnings, nil
}

func parseEnum(d *jsonscan.Doc, v jsonscan.Value, r *reader) []enumValue {
	list := v
	if d.Kind(v) == jsonscan.Object {
		list = get(d, v, "values")
	}
	if list < 0 || d.Kind(list) != jsonscan.Array || len(d.Members(list)) == 0 {
		r.fail("enum: want a non-empty array of {name, value} (or {\"values\": [...]})")
		return nil
	}
	var out []enumValue
	for i, m := range d.Members(list) {
		if d.Kind(m.Value) != jsonscan.Object {
			r.fail("enum[%d]: want an object with name and value", i)
			return nil
		}
		er := newReader(d, m.Value)
		ev := enumValue{Name: er.str("name"), Value: int64(i)}
		if x := er.lookup("value"); x >= 0 && d.Kind(x) == jsonscan.Number {
			n, err := strconv.ParseInt(d.Text(x), 10, 64)
			if err != nil {
				r.fail("enum[%d].value: %s is not an integer", i, d.Text(x))
				return nil
			}
			ev.Value = n
		}
		if er.err != nil || ev.Name == "" {
			r.fail("enum[%d]: want a name", i)
			return nil
		}
		out = append(out, ev)
	}
	return out
}

// parseProperty decodes one type property.
func parseProperty(d *jsonscan.Doc, id string, v jsonscan.Value) (*omfProperty, []string, *fieldError) {
	if strings.TrimSpace(id) != id || id == "" {
		return nil, nil, badf("properties: id %q is empty or has leading or trailing white space", id)
	}
	if d.Kind(v) != jsonscan.Object {
		return nil, nil, badf("properties.%s: want an object, got %s", id, d.Kind(v))
	}
	r := newReader(d, v)
	p := &omfProperty{ID: id}
	// "type" is a string or, for nullable values (OMF 1.1), an array such
	// as ["number", "null"].
	if tv := r.lookup("type"); tv >= 0 {
		switch d.Kind(tv) {
		case jsonscan.String:
			p.Type = strings.ToLower(d.Text(tv))
		case jsonscan.Array:
			for _, m := range d.Members(tv) {
				if d.Kind(m.Value) != jsonscan.String {
					return nil, nil, badf("properties.%s.type: want a string or an array of strings", id)
				}
				if s := strings.ToLower(d.Text(m.Value)); s == "null" {
					p.Nullable = true
				} else if p.Type == "" {
					p.Type = s
				} else {
					return nil, nil, badf("properties.%s.type: one type (and \"null\") at most", id)
				}
			}
		case jsonscan.Null:
		default:
			return nil, nil, badf("properties.%s.type: want a string, got %s", id, d.Kind(tv))
		}
	}
	p.Format = strings.ToLower(r.str("format"))
	p.RefTypeID = r.str("reftypeid")
	p.IsIndex = r.boolean("isindex")
	p.IsName = r.boolean("isname")
	p.IsQuality = r.boolean("isquality")
	p.Name = r.str("name")
	p.Description = r.str("description")
	p.UOM = r.str("uom")
	p.Minimum = r.raw("minimum")
	p.Maximum = r.raw("maximum")
	p.Interpolation = r.str("interpolation")
	r.lookup("items")
	r.lookup("additionalproperties")
	// Keywords PI Web API and OCS accept besides the OMF ones.
	// JSON-schema "enum" on a property (OMF 1.1 samples) lists allowed
	// values; it is accepted and not enforced.
	for _, k := range []string{"min", "max", "default", "typeid", "typeversion", "enum"} {
		r.lookup(k)
	}
	if r.err != nil {
		r.err.msg = "properties." + id + "." + r.err.msg
		return nil, nil, r.err
	}
	var warnings []string
	switch {
	case p.Type == "" && p.RefTypeID == "":
		return nil, nil, badf("properties.%s: want type or reftypeid", id)
	case p.Type != "" && p.RefTypeID != "" && p.Type != "object":
		return nil, nil, badf("properties.%s: type and reftypeid both set", id)
	}
	switch p.Type {
	case "integer":
		if _, ok := intRanges[p.Format]; !ok {
			return nil, nil, badf("properties.%s.format: %q is not an integer format (int16, int32, int64, uint16, uint32, uint64)", id, p.Format)
		}
	case "number":
		if !numberFormats[p.Format] {
			return nil, nil, badf("properties.%s.format: %q is not a number format (float16, float32, float64)", id, p.Format)
		}
	case "string":
		if !stringFormats[p.Format] {
			warnings = append(warnings, fmt.Sprintf("format %q is not an OMF string format; values are kept as text", p.Format))
		}
	case "boolean", "array", "object", "":
	default:
		return nil, nil, badf("properties.%s.type: unknown %q (want array, boolean, integer, number, object or string)", id, p.Type)
	}
	if p.IsIndex && p.IsQuality {
		return nil, nil, badf("properties.%s: both isindex and isquality", id)
	}
	r.lowerKnown()
	for _, k := range r.unknown() {
		warnings = append(warnings, fmt.Sprintf("keyword %q is not supported and was ignored", k))
	}
	return p, warnings, nil
}

// checkType validates a type against the registry it joins. It returns
// warnings, and an error with its HTTP status.
func checkType(t *omfType, types map[string]*omfType) ([]string, *fieldError) {
	var warnings []string
	for _, p := range t.Properties {
		if p.RefTypeID != "" {
			rt := types[fold(p.RefTypeID)]
			if rt == nil {
				return nil, &fieldError{code: evValue, status: 404, msg: fmt.Sprintf("properties.%s.reftypeid: type %q is not defined", p.ID, p.RefTypeID)}
			}
			if fold(rt.ID) == fold(t.ID) {
				return nil, badf("properties.%s.reftypeid: a type cannot contain itself", p.ID)
			}
		}
	}
	if t.Classification != "dynamic" {
		if t.Classification == "static" && len(t.indexProps()) == 0 {
			return nil, badf("a static type needs an isindex property")
		}
		return warnings, nil
	}
	idx := t.indexProps()
	switch {
	case len(idx) == 0:
		return nil, badf("a dynamic type needs an isindex property (its timestamp)")
	case len(idx) > 1:
		return nil, &fieldError{code: evCannotRepresent, status: 409,
			msg: fmt.Sprintf("properties: a compound index (%d isindex properties) cannot be a time index; this endpoint stores time series indexed by one timestamp", len(idx))}
	}
	ip := idx[0]
	switch {
	case ip.Nullable:
		return nil, badf("properties.%s: the index cannot be nullable", ip.ID)
	case ip.Type == "string" && (ip.Format == "date-time" || ip.Format == ""):
	case ip.Type == "integer" || ip.Type == "number":
	default:
		return nil, &fieldError{code: evCannotRepresent, status: 409,
			msg: fmt.Sprintf("properties.%s: the index must be a date-time string or a number (a Unix time), not %s", ip.ID, describeType(ip))}
	}
	values := 0
	for _, p := range t.Properties {
		if p.IsIndex || p.IsQuality {
			continue
		}
		if k, _ := kindOf(p, types); k == 0 {
			warnings = append(warnings, fmt.Sprintf("properties.%s: %s values are not stored; only numbers, integers, booleans, strings and enums become streams", p.ID, describeType(p)))
			continue
		}
		values++
	}
	if values == 0 {
		warnings = append(warnings, "the type has no property that becomes a stream")
	}
	return warnings, nil
}

func describeType(p *omfProperty) string {
	switch {
	case p.RefTypeID != "":
		return "reftypeid " + strconv.Quote(p.RefTypeID)
	case p.Format != "":
		return p.Type + " (" + p.Format + ")"
	}
	return p.Type
}

// parseContainer decodes a container object. typeid may be left out of a
// delete (OMF 1.2's simplified delete) and of a patch.
func parseContainer(d *jsonscan.Doc, obj jsonscan.Value, typeOptional bool) (c *omfContainer, warnings []string, err *fieldError) {
	r := newReader(d, obj)
	c = &omfContainer{
		ID:            r.id("id"),
		TypeID:        r.str("typeid"),
		Name:          r.str("name"),
		Description:   r.str("description"),
		DataSource:    r.str("datasource"),
		Tags:          r.strings("tags"),
		Metadata:      r.raw("metadata"),
		Indexes:       r.strings("indexes"),
		Extrapolation: r.str("extrapolation"),
	}
	r.lookup("action")
	r.lookup("typeversion")
	if ov := r.lookup("propertyoverrides"); ov >= 0 && d.Kind(ov) != jsonscan.Null {
		if d.Kind(ov) != jsonscan.Object {
			r.fail("propertyoverrides: want an object keyed by property id, got %s", d.Kind(ov))
		} else {
			c.PropertyOverrides = map[string]propOverride{}
			for _, m := range d.Members(ov) {
				if d.Kind(m.Value) != jsonscan.Object {
					r.fail("propertyoverrides.%s: want an object, got %s", m.Key, d.Kind(m.Value))
					break
				}
				pr := newReader(d, m.Value)
				c.PropertyOverrides[m.Key] = propOverride{
					Name: pr.str("name"), Description: pr.str("description"), UOM: pr.str("uom"),
					Minimum: pr.raw("minimum"), Maximum: pr.raw("maximum"), Interpolation: pr.str("interpolation"),
				}
				if pr.err != nil {
					r.fail("propertyoverrides.%s.%s", m.Key, pr.err.msg)
				}
				pr.lowerKnown()
				for _, k := range pr.unknown() {
					warnings = append(warnings, fmt.Sprintf("propertyoverrides.%s: keyword %q is not supported and was ignored", m.Key, k))
				}
			}
		}
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	if !typeOptional && c.TypeID == "" {
		return nil, nil, badf("typeid: missing or empty")
	}
	r.lowerKnown()
	for _, k := range r.unknown() {
		warnings = append(warnings, fmt.Sprintf("keyword %q is not supported and was ignored", k))
	}
	return c, warnings, nil
}

// sameJSON reports whether two definitions are equal as saved.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// value conversion for data messages ----------------------------------

// valueError is a value that does not fit its property.
type valueError struct {
	code int // evValue or evRange
	msg  string
}

// convertValue converts a JSON value to the stream kind of a property.
// skip reports a null (no value at this index).
func convertValue(d *jsonscan.Doc, v jsonscan.Value, ps *propStream) (val point.Value, skip bool, verr *valueError) {
	kind, text := d.Kind(v), d.Text(v)
	if kind == jsonscan.Null {
		return val, true, nil
	}
	p := ps.prop
	switch ps.spec.Kind {
	case point.KindFloat:
		switch kind {
		case jsonscan.Number:
			f, err := strconv.ParseFloat(text, 64)
			if err != nil || math.IsInf(f, 0) {
				return val, false, &valueError{evRange, fmt.Sprintf("%s is out of range for %s", text, describeType(p))}
			}
			return point.Float(f), false, nil
		case jsonscan.String:
			switch text {
			case "NaN", "Infinity", "-Infinity":
				return val, false, &valueError{evRange, text + " is not stored (not a finite number)"}
			}
		}
	case point.KindInt:
		if kind == jsonscan.Number {
			rng := intRanges[p.Format]
			if i, err := strconv.ParseInt(text, 10, 64); err == nil {
				if float64(i) < rng[0] || float64(i) > rng[1] {
					return val, false, &valueError{evRange, fmt.Sprintf("%s is out of range for %s", text, describeType(p))}
				}
				return point.Int(i), false, nil
			}
			f, err := strconv.ParseFloat(text, 64)
			if err != nil || f != math.Trunc(f) || f < rng[0] || f > rng[1] || f < math.MinInt64 || f >= math.MaxInt64 {
				if err == nil && f == math.Trunc(f) {
					return val, false, &valueError{evRange, fmt.Sprintf("%s is out of range for %s", text, describeType(p))}
				}
				return val, false, &valueError{evValue, fmt.Sprintf("%s is not an integer", text)}
			}
			return point.Int(int64(f)), false, nil
		}
	case point.KindBool:
		if kind == jsonscan.Bool {
			return point.Bool(d.Bool(v)), false, nil
		}
	case point.KindString:
		if ps.enum != nil {
			return enumValueOf(kind, text, ps.enum)
		}
		if kind == jsonscan.String {
			return point.String(text), false, nil
		}
	}
	return val, false, &valueError{evValue, fmt.Sprintf("a %s is not a value of %s", kind, describeType(p))}
}

func enumValueOf(kind jsonscan.Kind, text string, enum []enumValue) (point.Value, bool, *valueError) {
	switch kind {
	case jsonscan.String:
		for _, e := range enum {
			if strings.EqualFold(e.Name, text) {
				return point.String(e.Name), false, nil
			}
		}
		return point.Value{}, false, &valueError{evValue, fmt.Sprintf("%q is not a member of the enum", text)}
	case jsonscan.Number:
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			for _, e := range enum {
				if e.Value == n {
					return point.String(e.Name), false, nil
				}
			}
		}
		return point.Value{}, false, &valueError{evValue, fmt.Sprintf("%s is not a value of the enum", text)}
	}
	return point.Value{}, false, &valueError{evValue, fmt.Sprintf("a %s is not an enum value", kind)}
}

// qualityOf maps the value of an isquality property to a status code
// (point.Quality): true/false are good/bad; 0 is good; 1-255 is an
// OPC DA quality byte (192 and up good, 64-127 uncertain, else bad);
// larger numbers are OPC UA status codes; text is good, ok, uncertain,
// questionable, substituted or bad (any case), or a number as above;
// anything else is bad. An enum value counts by its name.
func qualityOf(d *jsonscan.Doc, v jsonscan.Value, enum []enumValue) (point.Quality, bool) {
	kind, text := d.Kind(v), d.Text(v)
	switch kind {
	case jsonscan.Null:
		return point.QualityGood, true
	case jsonscan.Bool:
		if d.Bool(v) {
			return point.QualityGood, true
		}
		return point.QualityBad, true
	case jsonscan.Number:
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return point.QualityBad, false
		}
		if enum != nil {
			for _, e := range enum {
				if e.Value == n {
					return qualityText(e.Name), true
				}
			}
		}
		return qualityNumber(n)
	case jsonscan.String:
		return qualityText(text), true
	}
	return point.QualityBad, false
}

func qualityNumber(n int64) (point.Quality, bool) {
	switch {
	case n == 0:
		return point.QualityGood, true
	case n < 0 || n > math.MaxUint32:
		return point.QualityBad, false
	case n <= 255:
		switch {
		case n&0xC0 == 0xC0:
			return point.QualityGood, true
		case n&0xC0 == 0x40:
			return point.QualityUncertain, true
		}
		return point.QualityBad, true
	}
	return point.Quality(n), true
}

func qualityText(s string) point.Quality {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "good", "ok":
		return point.QualityGood
	case "uncertain", "questionable", "substituted":
		return point.QualityUncertain
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if q, ok := qualityNumber(n); ok {
			return q
		}
	}
	return point.QualityBad
}

// worse returns the worse of two qualities by severity.
func worse(a, b point.Quality) point.Quality {
	if b>>30 > a>>30 {
		return b
	}
	return a
}
