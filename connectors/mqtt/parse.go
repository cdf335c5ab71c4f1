package mqtt

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sluice-edge/sluice/connectors/internal/jsonscan"
	"github.com/sluice-edge/sluice/connectors/point"
)

// Reasons label sluice_connector_errors_total for bad payloads.
const (
	reasonBadNumber    = "bad_number"      // plain payload is not a value
	reasonBadJSON      = "bad_json"        // payload is not JSON
	reasonBadLine      = "bad_line"        // influx line does not parse
	reasonBadValue     = "bad_value"       // value not convertible to the stream kind
	reasonMissingValue = "missing_value"   // no value at the configured path
	reasonBadTime      = "bad_time"        // timestamp does not parse
	reasonMissingTime  = "missing_time"    // no timestamp at the configured path
	reasonBadQuality   = "bad_quality"     // quality does not parse
	reasonMissingID    = "missing_id"      // no id at the configured path
	reasonBadTopic     = "bad_topic"       // topic lacks a level the stream template needs
	reasonMissingTag   = "missing_tag"     // influx line lacks a tag the stream template needs
	reasonUnmatched    = "unmatched_topic" // topic matches no configured subscription
)

// sample is one decoded value, before it is named and becomes a Point.
type sample struct {
	field       string // JSON field path or influx field key
	id          string // JSON id
	measurement string // influx
	tags        []tag  // influx, sorted by key
	value       point.Value
	time        int64
	quality     uint32
}

type tag struct{ key, value string }

// tag returns the value of an influx tag.
func (s *sample) tag(key string) (string, bool) {
	for _, tg := range s.tags {
		if tg.key == key {
			return tg.value, true
		}
	}
	return "", false
}

// report collects the bad parts of a payload, and how many points took
// the time of receipt for want of a timestamp (json.time_missing: receive).
type report struct {
	probs       []problem
	receiveTime int
}

type problem struct {
	reason string
	err    error
}

func (r *report) bad(reason string, err error) { r.probs = append(r.probs, problem{reason, err}) }

// decoder turns a payload into samples. recv is the time of receipt (ns),
// used when the payload carries no timestamp. Bad parts are reported to
// r, and the rest of the payload is still decoded where that makes sense
// (other array elements, other lines). Decoders must not keep payload.
type decoder interface {
	decode(payload []byte, recv int64, out []sample, r *report) []sample
}

// plainDecoder: the payload is one value.
type plainDecoder struct{ kind point.Kind }

func (d *plainDecoder) decode(payload []byte, recv int64, out []sample, r *report) []sample {
	text := strings.TrimSpace(string(payload))
	v, err := textValue(text, d.kind)
	if err != nil {
		r.bad(reasonBadNumber, err)
		return out
	}
	return append(out, sample{value: v, time: recv})
}

// textValue parses text as a value of kind k.
func textValue(text string, k point.Kind) (point.Value, error) {
	switch k {
	case point.KindString:
		if !utf8.ValidString(text) {
			return point.Value{}, errors.New("text is not UTF-8")
		}
		return point.String(text), nil
	case point.KindInt:
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return point.Int(i), nil
		}
	case point.KindBool:
		if b, err := strconv.ParseBool(text); err == nil {
			return point.Bool(b), nil
		}
	}
	if text == "" {
		return point.Value{}, errors.New("empty")
	}
	if text == "true" || text == "false" {
		return convert(point.Bool(text == "true"), k)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return point.Value{}, fmt.Errorf("%s is not a %s", quote(text), k)
	}
	return convert(point.Float(f), k)
}

// convert converts v to kind k and rejects non-finite floats, which no
// sensor means and which would poison summaries.
func convert(v point.Value, k point.Kind) (point.Value, error) {
	v, err := v.Convert(k)
	if err != nil {
		return v, err
	}
	if v.Kind == point.KindFloat && (math.IsNaN(v.F) || math.IsInf(v.F, 0)) {
		return point.Value{}, fmt.Errorf("value %v is not finite", v.F)
	}
	return v, nil
}

// quote shortens text for error messages and logs.
func quote(text string) string {
	if len(text) > 64 {
		text = text[:64] + "..."
	}
	return strconv.Quote(text)
}

// timeFormat says how to read a timestamp.
type timeFormat uint8

const (
	timeAuto timeFormat = iota
	timeRFC3339
	timeS
	timeMS
	timeUS
	timeNS
)

var timeFormats = map[string]timeFormat{
	"": timeAuto, "auto": timeAuto, "rfc3339": timeRFC3339,
	"s": timeS, "ms": timeMS, "us": timeUS, "ns": timeNS,
}

// unitNS is the length of one unit of an epoch time format, in ns.
func (f timeFormat) unitNS() int64 {
	switch f {
	case timeS:
		return 1e9
	case timeMS:
		return 1e6
	case timeUS:
		return 1e3
	}
	return 1
}

// parseEpoch reads a decimal epoch time in unit f (timeAuto: guessed
// from its size: below 1e11 seconds, 1e14 milliseconds, 1e17 microseconds,
// else nanoseconds). Fractions are kept exactly down to the nanosecond.
func parseEpoch(text string, f timeFormat) (int64, error) {
	if strings.ContainsAny(text, "eE") {
		x, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("epoch %s is not a number", quote(text))
		}
		i, _ := math.Modf(x)
		if f == timeAuto {
			f = guessUnit(math.Abs(i))
		}
		ns := x * float64(f.unitNS())
		if ns >= math.MaxInt64 || ns <= math.MinInt64 {
			return 0, fmt.Errorf("epoch %s is out of range", quote(text))
		}
		return int64(ns), nil
	}
	ip, fp, _ := strings.Cut(text, ".")
	neg := strings.HasPrefix(ip, "-")
	i, err := strconv.ParseInt(ip, 10, 64)
	if err != nil && !((ip == "" || ip == "-") && fp != "") {
		return 0, fmt.Errorf("epoch %s is not a number", quote(text))
	}
	if f == timeAuto {
		f = guessUnit(math.Abs(float64(i)))
	}
	unit := f.unitNS()
	if i > math.MaxInt64/unit || i < math.MinInt64/unit {
		return 0, fmt.Errorf("epoch %s is out of range", quote(text))
	}
	ns := i * unit
	if fp != "" {
		for _, c := range fp {
			if c < '0' || c > '9' {
				return 0, fmt.Errorf("epoch %s is not a number", quote(text))
			}
		}
		// Digits beyond the nanosecond are dropped.
		digits := len(strconv.FormatInt(unit, 10)) - 1
		if len(fp) > digits {
			fp = fp[:digits]
		}
		if fp != "" {
			frac, _ := strconv.ParseInt(fp, 10, 64)
			for range digits - len(fp) {
				frac *= 10
			}
			if neg {
				frac = -frac
			}
			if (frac > 0 && ns > math.MaxInt64-frac) || (frac < 0 && ns < math.MinInt64-frac) {
				return 0, fmt.Errorf("epoch %s is out of range", quote(text))
			}
			ns += frac
		}
	}
	return ns, nil
}

func guessUnit(abs float64) timeFormat {
	switch {
	case abs < 1e11:
		return timeS
	case abs < 1e14:
		return timeMS
	case abs < 1e17:
		return timeUS
	}
	return timeNS
}

// parseRFC3339 reads an RFC 3339 time within the range of int64 ns.
func parseRFC3339(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("time %s is not RFC 3339", quote(s))
	}
	if y := t.Year(); y < 1678 || y > 2261 {
		return 0, fmt.Errorf("time %s is out of range", quote(s))
	}
	return t.UnixNano(), nil
}

// parseQuality reads a quality: an OPC UA status code (number or "0x..."
// text), a bool (true good, false bad), or good/uncertain/bad.
func parseQuality(doc *jsonscan.Doc, v jsonscan.Value) (uint32, error) {
	switch doc.Kind(v) {
	case jsonscan.Number:
		return qualityText(doc.Text(v))
	case jsonscan.Bool:
		if doc.Bool(v) {
			return point.QualityGood, nil
		}
		return point.QualityBad, nil
	case jsonscan.String:
		switch strings.ToLower(doc.Text(v)) {
		case "good", "ok":
			return point.QualityGood, nil
		case "uncertain":
			return point.QualityUncertain, nil
		case "bad":
			return point.QualityBad, nil
		}
		return qualityText(doc.Text(v))
	}
	return 0, fmt.Errorf("quality is a %s", doc.Kind(v))
}

func qualityText(s string) (uint32, error) {
	q, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("quality %s is not a status code", quote(s))
	}
	return uint32(q), nil
}

// jsonPath is a parsed path; nil means not configured, empty the root.
type jsonPath []string

func parsePath(s string) (jsonPath, error) {
	if s == "" {
		return nil, nil
	}
	p := strings.Split(s, ".")
	for _, k := range p {
		if k == "" {
			return nil, fmt.Errorf("%q has an empty key", s)
		}
	}
	return p, nil
}

// get walks a path from v: keys select object members (of duplicate names
// the last, as in encoding/json), numbers array elements.
func (jp jsonPath) get(doc *jsonscan.Doc, v jsonscan.Value) jsonscan.Value {
	for _, k := range jp {
		switch doc.Kind(v) {
		case jsonscan.Object:
			v = doc.Get(v, k)
		case jsonscan.Array:
			i, ok := index(k)
			if !ok {
				return jsonscan.Missing
			}
			v = doc.Index(v, i)
		default:
			return jsonscan.Missing
		}
		if v == jsonscan.Missing {
			return v
		}
	}
	return v
}

// index parses a non-negative array index.
func index(k string) (int, bool) {
	if k == "" || len(k) > 9 {
		return 0, false
	}
	i := 0
	for _, c := range []byte(k) {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, true
}

type jsonField struct {
	name string
	path jsonPath
}

// jsonDecoder reads JSON payloads: one point, an array of points, or
// points with several fields each.
type jsonDecoder struct {
	kind              point.Kind
	points, value     jsonPath
	time, quality, id jsonPath
	fields            []jsonField
	star              bool            // fields: ["*"]
	skip              map[string]bool // top-level keys that are not fields under "*"
	timeFormat        timeFormat
	dropMissingTime   bool // time_missing: drop
}

func newJSONDecoder(c JSONConfig, kind point.Kind, key string, p *problems) (*jsonDecoder, error) {
	before := len(*p)
	d := &jsonDecoder{kind: kind, skip: map[string]bool{}}
	path := func(sub, s string) jsonPath {
		jp, err := parsePath(s)
		if err != nil {
			p.add(key+"."+sub, "%v", err)
		}
		return jp
	}
	d.points = path("points", c.Points)
	d.value = path("value", c.Value)
	d.time = path("time", c.Time)
	d.quality = path("quality", c.Quality)
	d.id = path("id", c.ID)
	for _, jp := range []jsonPath{d.time, d.quality, d.id} {
		if len(jp) > 0 {
			d.skip[jp[0]] = true
		}
	}
	tf, ok := timeFormats[c.TimeFormat]
	if !ok {
		p.add(key+".time_format", "unknown %q (want auto, rfc3339, s, ms, us or ns)", c.TimeFormat)
	}
	d.timeFormat = tf
	if c.TimeFormat != "" && c.Time == "" {
		p.add(key+".time_format", "set, but json.time is empty")
	}
	switch c.TimeMissing {
	case "", "receive":
	case "drop":
		d.dropMissingTime = true
	default:
		p.add(key+".time_missing", "unknown %q (want receive or drop)", c.TimeMissing)
	}
	if c.TimeMissing != "" && c.Time == "" {
		p.add(key+".time_missing", "set, but json.time is empty (every point takes the time of receipt)")
	}
	for i, f := range c.Fields {
		if f == "*" {
			if len(c.Fields) > 1 {
				p.add(fmt.Sprintf("%s.fields[%d]", key, i), `"*" must be the only field`)
			}
			d.star = true
			continue
		}
		jp, err := parsePath(f)
		if err != nil || jp == nil {
			p.add(fmt.Sprintf("%s.fields[%d]", key, i), "empty or bad path %q", f)
			continue
		}
		if slices.ContainsFunc(d.fields, func(x jsonField) bool { return x.name == f }) {
			p.add(fmt.Sprintf("%s.fields[%d]", key, i), "%q listed twice", f)
		}
		d.fields = append(d.fields, jsonField{name: f, path: jp})
	}
	if (len(d.fields) > 0 || d.star) && c.Value != "" {
		p.add(key+".value", "set together with json.fields; use one")
	}
	if len(*p) > before {
		return nil, errors.New("bad json config")
	}
	return d, nil
}

// docs are the parsed payloads' trees, reused across messages. Their depth
// limit is encoding/json's, as it has always been for payloads.
var docs = sync.Pool{New: func() any { return new(jsonscan.Doc) }}

func (d *jsonDecoder) decode(payload []byte, recv int64, out []sample, r *report) []sample {
	doc := docs.Get().(*jsonscan.Doc)
	defer docs.Put(doc)
	// A copy, not an unsafe view: the samples' ids and string values are
	// cut from it and outlive the Doc.
	if err := doc.Parse(string(payload)); err != nil {
		r.bad(reasonBadJSON, err)
		return out
	}
	items := []jsonscan.Member{{Value: jsonscan.Root}}
	if d.points != nil {
		v := d.points.get(doc, jsonscan.Root)
		if v == jsonscan.Missing || doc.Kind(v) != jsonscan.Array {
			r.bad(reasonMissingValue, fmt.Errorf("no array of points at %q", strings.Join(d.points, ".")))
			return out
		}
		items = doc.Members(v)
	} else if doc.Kind(jsonscan.Root) == jsonscan.Array {
		items = doc.Members(jsonscan.Root)
	}
	for _, it := range items {
		out = d.point(doc, it.Value, recv, out, r)
	}
	return out
}

// point decodes one point object (or scalar) into out.
func (d *jsonDecoder) point(doc *jsonscan.Doc, it jsonscan.Value, recv int64, out []sample, r *report) []sample {
	s := sample{time: recv}
	n0, receiveTime := len(out), false
	if d.time != nil {
		// A missing (or null) timestamp is a sender that does not stamp
		// its values; one that does not parse is a sender that is wrong.
		switch v := d.time.get(doc, it); {
		case (v == jsonscan.Missing || doc.Kind(v) == jsonscan.Null) && d.dropMissingTime:
			r.bad(reasonMissingTime, fmt.Errorf("no timestamp at %q (json.time_missing: drop)", strings.Join(d.time, ".")))
			return out
		case v == jsonscan.Missing || doc.Kind(v) == jsonscan.Null:
			receiveTime = true
		default:
			t, err := d.parseTime(doc, v)
			if err != nil {
				r.bad(reasonBadTime, fmt.Errorf("timestamp at %q: %w", strings.Join(d.time, "."), err))
				return out
			}
			s.time = t
		}
	}
	if d.quality != nil {
		if v := d.quality.get(doc, it); v != jsonscan.Missing {
			q, err := parseQuality(doc, v)
			if err != nil {
				r.bad(reasonBadQuality, err)
				return out
			}
			s.quality = q
		}
	}
	if d.id != nil {
		v := d.id.get(doc, it)
		if v == jsonscan.Missing || doc.Text(v) == "" { // Text is empty unless a string or number
			r.bad(reasonMissingID, fmt.Errorf("no id at %q", strings.Join(d.id, ".")))
			return out
		}
		s.id = doc.Text(v)
	}
	switch {
	case d.star:
		if k := doc.Kind(it); k != jsonscan.Object {
			r.bad(reasonMissingValue, fmt.Errorf("point is a %s, not an object", k))
			return out
		}
		members := slices.Clone(doc.Members(it))
		// Sorted by name; of duplicate names the last counts.
		slices.SortStableFunc(members, func(a, b jsonscan.Member) int { return strings.Compare(a.Key, b.Key) })
		n := len(out)
		for i, m := range members {
			if d.skip[m.Key] || (i+1 < len(members) && members[i+1].Key == m.Key) || !scalarFor(doc.Kind(m.Value), d.kind) {
				continue
			}
			out = d.field(s, m.Key, doc, m.Value, out, r)
		}
		if len(out) == n {
			r.bad(reasonMissingValue, errors.New("no scalar field in the point"))
		}
	case len(d.fields) > 0:
		n, found := len(out), false
		for _, f := range d.fields {
			v := f.path.get(doc, it)
			if v == jsonscan.Missing || doc.Kind(v) == jsonscan.Null {
				continue // sparse objects are normal
			}
			found = true
			out = d.field(s, f.name, doc, v, out, r)
		}
		if !found && len(out) == n {
			r.bad(reasonMissingValue, errors.New("none of the fields is in the point"))
		}
	default:
		v := d.value.get(doc, it)
		if v == jsonscan.Missing {
			r.bad(reasonMissingValue, fmt.Errorf("no value at %q", strings.Join(d.value, ".")))
			return out
		}
		out = d.field(s, "", doc, v, out, r)
	}
	if receiveTime {
		r.receiveTime += len(out) - n0
	}
	return out
}

func (d *jsonDecoder) field(s sample, name string, doc *jsonscan.Doc, v jsonscan.Value, out []sample, r *report) []sample {
	val, err := jsonValue(doc, v, d.kind)
	if err != nil {
		if name != "" {
			err = fmt.Errorf("field %q: %w", name, err)
		}
		r.bad(reasonBadValue, err)
		return out
	}
	s.field, s.value = name, val
	return append(out, s)
}

// scalarFor reports whether a member counts as a field under "*": numbers
// and bools, and strings too for string streams.
func scalarFor(jk jsonscan.Kind, k point.Kind) bool {
	switch jk {
	case jsonscan.Number, jsonscan.Bool:
		return true
	case jsonscan.String:
		return k == point.KindString
	}
	return false
}

// jsonValue converts a JSON scalar to kind k.
func jsonValue(doc *jsonscan.Doc, v jsonscan.Value, k point.Kind) (point.Value, error) {
	switch doc.Kind(v) {
	case jsonscan.Number:
		if k == point.KindString {
			return point.String(doc.Text(v)), nil
		}
		return textValue(doc.Text(v), k)
	case jsonscan.Bool:
		return convert(point.Bool(doc.Bool(v)), k)
	case jsonscan.String:
		return convert(point.String(doc.Text(v)), k)
	}
	return point.Value{}, fmt.Errorf("value is a %s", doc.Kind(v))
}

func (d *jsonDecoder) parseTime(doc *jsonscan.Doc, v jsonscan.Value) (int64, error) {
	text := doc.Text(v)
	switch doc.Kind(v) {
	case jsonscan.Number:
		if d.timeFormat == timeRFC3339 {
			return 0, fmt.Errorf("time %s is a number, not RFC 3339", text)
		}
		return parseEpoch(text, d.timeFormat)
	case jsonscan.String:
		switch d.timeFormat {
		case timeRFC3339:
			return parseRFC3339(text)
		case timeAuto:
			if _, err := strconv.ParseFloat(text, 64); err != nil {
				return parseRFC3339(text)
			}
		}
		return parseEpoch(text, d.timeFormat)
	}
	return 0, fmt.Errorf("time is a %s", doc.Kind(v))
}
