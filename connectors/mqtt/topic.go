package mqtt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// filter is a subscription's topic filter, with its named levels.
type filter struct {
	filter string         // as sent to the broker: named levels are +
	levels []string       // filter split on /
	names  map[string]int // named level -> level index
	hash   bool           // ends with #
}

// parseFilter parses a configured topic: an MQTT filter in which a level
// may be written {name}, meaning + with a name.
func parseFilter(topic string) (*filter, error) {
	if topic == "" {
		return nil, errors.New("empty")
	}
	if len(topic) > 65535 {
		return nil, errors.New("longer than 65535 bytes")
	}
	if strings.ContainsRune(topic, 0) {
		return nil, errors.New("contains a NUL character")
	}
	f := &filter{levels: strings.Split(topic, "/")}
	for i, l := range f.levels {
		switch {
		case l == "#":
			if i != len(f.levels)-1 {
				return nil, fmt.Errorf("%q: # must be the last level", topic)
			}
			f.hash = true
		case l == "+":
		case strings.HasPrefix(l, "{") && strings.HasSuffix(l, "}"):
			name := l[1 : len(l)-1]
			if err := checkName(name); err != nil {
				return nil, fmt.Errorf("%q: level %d: %w", topic, i, err)
			}
			if f.names == nil {
				f.names = map[string]int{}
			}
			if _, dup := f.names[name]; dup {
				return nil, fmt.Errorf("%q: level name %q used twice", topic, name)
			}
			f.names[name] = i
			f.levels[i] = "+"
		case strings.ContainsAny(l, "+#{}"):
			return nil, fmt.Errorf("%q: level %q mixes a wildcard or brace with text", topic, l)
		}
	}
	f.filter = strings.Join(f.levels, "/")
	return f, nil
}

// reserved placeholder names, which named levels cannot take.
var reserved = map[string]bool{"topic": true, "field": true, "id": true, "measurement": true, "tags": true}

func checkName(name string) error {
	if name == "" {
		return errors.New("empty level name")
	}
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return fmt.Errorf("level name %q: want letters, digits and _", name)
		}
	}
	if reserved[name] {
		return fmt.Errorf("level name %q is reserved", name)
	}
	return nil
}

// match reports whether topic matches the filter (MQTT 3.1.1 section
// 4.7): + is one level, # the rest (including none), and wildcards in the
// first level do not match topics starting with $.
func (f *filter) match(topic string) bool {
	if topic != "" && topic[0] == '$' && (f.levels[0] == "+" || f.levels[0] == "#") {
		return false
	}
	for i, l := range f.levels {
		if l == "#" {
			return true
		}
		var level string
		var more bool
		level, topic, more = strings.Cut(topic, "/")
		if l != "+" && l != level {
			return false
		}
		if !more {
			// The topic ends here: a match if the filter does too, or
			// continues with only "#" (a/# matches a).
			rest := f.levels[i+1:]
			return len(rest) == 0 || len(rest) == 1 && rest[0] == "#"
		}
	}
	return false
}

// templateVars says which format-specific placeholders a template may use.
type templateVars struct {
	field, id, influx bool
	sparkplug         bool // only {group}, {node}, {device} and {metric}
}

type partKind uint8

const (
	partLit partKind = iota
	partLevel
	partRest
	partTopic
	partField
	partID
	partMeasurement
	partTags
	partTag
	partSPGroup  // Sparkplug group id: topic level 1
	partSPNode   // Sparkplug edge node id: level 3
	partSPDevice // Sparkplug device id: level 4, or none
	partSPMetric // Sparkplug metric name (sample.field)
)

type part struct {
	kind partKind
	lit  string // literal text, or the tag key of partTag
	n    int    // level index of partLevel
}

// template renders stream names.
type template struct {
	parts []part
}

// parseTemplate compiles a stream template against the filter it serves.
func parseTemplate(src string, f *filter, v templateVars) (*template, error) {
	t := &template{}
	usesField, usesID, usesMetric := false, false, false
	for rest := src; rest != ""; {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			t.parts = append(t.parts, part{kind: partLit, lit: rest})
			break
		}
		if rest[open] == '}' {
			return nil, fmt.Errorf("%q: unmatched }", src)
		}
		if open > 0 {
			t.parts = append(t.parts, part{kind: partLit, lit: rest[:open]})
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] != '}' {
			return nil, fmt.Errorf("%q: unmatched {", src)
		}
		name := rest[open+1 : open+1+end]
		rest = rest[open+1+end+1:]
		p, err := placeholder(name, f, v)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", src, err)
		}
		usesField = usesField || p.kind == partField
		usesID = usesID || p.kind == partID
		usesMetric = usesMetric || p.kind == partSPMetric
		t.parts = append(t.parts, p)
	}
	if v.sparkplug && !usesMetric {
		return nil, fmt.Errorf("%q: must use {metric}", src)
	}
	if v.field && !usesField {
		return nil, fmt.Errorf("%q: must use {field}: the payload has several fields", src)
	}
	if v.id && !usesID {
		return nil, fmt.Errorf("%q: must use {id}: json.id is set", src)
	}
	if len(t.parts) == 0 {
		return nil, errors.New("empty")
	}
	for i, p := range t.parts {
		// {tags} is a whole number of levels, so that without tags it can
		// vanish with one of its slashes (cpu/usage_idle, not cpu//usage_idle).
		// It used to render ",k=v" after {measurement}: say so.
		if p.kind != partTags {
			continue
		}
		before := i == 0 || t.parts[i-1].kind == partLit && strings.HasSuffix(t.parts[i-1].lit, "/")
		after := i == len(t.parts)-1 || t.parts[i+1].kind == partLit && strings.HasPrefix(t.parts[i+1].lit, "/")
		if !before || !after {
			return nil, fmt.Errorf("%q: {tags} must be a level of its own: it is the tag values, in tag-key order, separated by / (write {measurement}/{tags}/{field})", src)
		}
	}
	return t, nil
}

func placeholder(name string, f *filter, v templateVars) (part, error) {
	if v.sparkplug {
		switch name {
		case "group":
			return part{kind: partSPGroup}, nil
		case "node":
			return part{kind: partSPNode}, nil
		case "device":
			return part{kind: partSPDevice}, nil
		case "metric":
			return part{kind: partSPMetric}, nil
		}
		return part{}, fmt.Errorf("unknown placeholder {%s} (format sparkplug has {group}, {node}, {device} and {metric})", name)
	}
	if n, err := strconv.Atoi(name); err == nil {
		// Under a #, a level may or may not be there: a topic without it
		// is counted as bad_topic.
		if n < 0 || n > 1000 || (n >= len(f.levels) && !f.hash) {
			return part{}, fmt.Errorf("{%d}: the filter %q has no level %d", n, f.filter, n)
		}
		return part{kind: partLevel, n: n}, nil
	}
	switch name {
	case "#":
		if !f.hash {
			return part{}, fmt.Errorf("{#}: the filter %q has no #", f.filter)
		}
		return part{kind: partRest, n: len(f.levels) - 1}, nil
	case "topic":
		return part{kind: partTopic}, nil
	case "field":
		if v.field {
			return part{kind: partField}, nil
		}
	case "id":
		if v.id {
			return part{kind: partID}, nil
		}
	case "measurement":
		if v.influx {
			return part{kind: partMeasurement}, nil
		}
	case "tags":
		if v.influx {
			return part{kind: partTags}, nil
		}
	default:
		if key, ok := strings.CutPrefix(name, "tag."); ok && v.influx && key != "" {
			return part{kind: partTag, lit: key}, nil
		}
		if i, ok := f.names[name]; ok {
			return part{kind: partLevel, n: i}, nil
		}
		// Influx: any other plain name is a tag key ({host}); {tag.KEY}
		// spells keys that are not plain names or clash with a level.
		if v.influx && checkName(name) == nil {
			return part{kind: partTag, lit: name}, nil
		}
	}
	return part{}, fmt.Errorf("unknown placeholder {%s} for this topic and format", name)
}

// render appends the stream name of one sample to buf. ok is false when
// the topic lacks a level the template needs, or the influx line a tag
// (missingTag tells which).
func (t *template) render(buf []byte, topic string, s *sample) ([]byte, bool) {
	dropSlash := false // an empty {device} or {tags} between slashes takes one with it
	// vanish renders an empty optional part i: "a/{x}/b" as a/b,
	// "{x}/b" as b, "a/{x}" as a.
	vanish := func(i int) {
		atStart := len(buf) == 0 || buf[len(buf)-1] == '/'
		if i+1 < len(t.parts) {
			if next := t.parts[i+1]; next.kind == partLit && next.lit[0] == '/' && atStart {
				dropSlash = true
			}
		} else if len(buf) > 0 && buf[len(buf)-1] == '/' {
			buf = buf[:len(buf)-1]
		}
	}
	for i, p := range t.parts {
		switch p.kind {
		case partLit:
			lit := p.lit
			if dropSlash {
				lit, dropSlash = lit[1:], false
			}
			buf = append(buf, lit...)
		case partLevel:
			l, ok := level(topic, p.n)
			if !ok {
				return buf, false
			}
			buf = append(buf, l...)
		case partRest:
			buf = append(buf, rest(topic, p.n)...)
		case partTopic:
			buf = append(buf, topic...)
		case partField:
			buf = append(buf, s.field...)
		case partID:
			buf = append(buf, s.id...)
		case partMeasurement:
			buf = append(buf, s.measurement...)
		case partTags:
			if len(s.tags) == 0 {
				vanish(i)
				continue
			}
			for j, tg := range s.tags {
				if j > 0 {
					buf = append(buf, '/')
				}
				buf = appendSegment(buf, tg.value)
			}
		case partTag:
			v, ok := s.tag(p.lit)
			if !ok {
				return buf, false
			}
			buf = appendSegment(buf, v)
		case partSPGroup:
			l, _ := level(topic, 1)
			buf = append(buf, l...)
		case partSPNode:
			l, _ := level(topic, 3)
			buf = append(buf, l...)
		case partSPDevice:
			if l, ok := level(topic, 4); ok && l != "" {
				buf = append(buf, l...)
				continue
			}
			// No device (a node's metric): "{node}/{device}/{metric}"
			// renders as node/metric, "{metric}/{device}" as metric.
			vanish(i)
		case partSPMetric:
			buf = append(buf, s.field...)
		}
	}
	return buf, true
}

// missingTag returns the first tag key the template needs that s lacks.
func (t *template) missingTag(s *sample) (string, bool) {
	for _, p := range t.parts {
		if p.kind == partTag {
			if _, ok := s.tag(p.lit); !ok {
				return p.lit, true
			}
		}
	}
	return "", false
}

// appendSegment appends an influx tag value as one level of a stream name:
// a / becomes - (as Telegraf's graphite serializer does), so that
// path=/var/log is the level -var-log, not three levels, and path=/ is -.
func appendSegment(buf []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '/' {
			buf = append(buf, '-')
		} else {
			buf = append(buf, c)
		}
	}
	return buf
}

// level returns level n of topic.
func level(topic string, n int) (string, bool) {
	for ; n > 0; n-- {
		i := strings.IndexByte(topic, '/')
		if i < 0 {
			return "", false
		}
		topic = topic[i+1:]
	}
	l, _, _ := strings.Cut(topic, "/")
	return l, true
}

// rest returns the levels of topic from n on ("" if there are fewer).
func rest(topic string, n int) string {
	for ; n > 0; n-- {
		i := strings.IndexByte(topic, '/')
		if i < 0 {
			return ""
		}
		topic = topic[i+1:]
	}
	return topic
}
