package point

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Stream labels are key/value metadata of a stream (site=plant1,
// host=gw1, node_id=ns=2;s=Boiler.Temp) that sources fill from what they
// know (MQTT topic levels, influx tags, Sparkplug ids, OPC UA attributes,
// OMF container metadata). The store keeps them with the stream's
// definition, the catalog shows and filters on them, and the
// Prometheus-compatible API turns them into Prometheus labels, which is
// why keys follow Prometheus label names.
//
// The limits keep a stream definition small: it is read at every start
// and sent with every catalog answer.
const (
	MaxLabels        = 32  // labels per stream
	MaxLabelKeyLen   = 64  // bytes
	MaxLabelValueLen = 256 // bytes
)

// ErrBadLabel is wrapped by every error of ValidateLabels.
var ErrBadLabel = errors.New("bad stream label")

// ValidateLabelKey checks a label key: a Prometheus label name
// ([a-zA-Z_][a-zA-Z0-9_]*) of at most MaxLabelKeyLen bytes that does not
// start with "__", which Prometheus reserves for itself.
func ValidateLabelKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("%w: empty key", ErrBadLabel)
	case len(k) > MaxLabelKeyLen:
		return fmt.Errorf("%w: key %.20q... is %d bytes, over the limit of %d", ErrBadLabel, k, len(k), MaxLabelKeyLen)
	case strings.HasPrefix(k, "__"):
		return fmt.Errorf("%w: key %q: keys starting with __ are reserved", ErrBadLabel, k)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(labelKeyChar(c) && (i > 0 || c < '0' || c > '9')) {
			return fmt.Errorf("%w: key %q: want letters, digits and _, not starting with a digit", ErrBadLabel, k)
		}
	}
	return nil
}

func labelKeyChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ValidateLabelValue checks a label value: 1..MaxLabelValueLen bytes of
// UTF-8 without control characters. An empty value is refused because
// Prometheus treats it as no label at all.
func ValidateLabelValue(k, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: %s: empty value", ErrBadLabel, k)
	case len(v) > MaxLabelValueLen:
		return fmt.Errorf("%w: %s: value is %d bytes, over the limit of %d", ErrBadLabel, k, len(v), MaxLabelValueLen)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s: value is not UTF-8", ErrBadLabel, k)
	case strings.ContainsFunc(v, unicode.IsControl):
		return fmt.Errorf("%w: %s: value contains a control character", ErrBadLabel, k)
	}
	return nil
}

// ValidateLabels checks a label set: at most MaxLabels labels, each key
// and value valid. Every problem is reported, in key order.
func ValidateLabels(ls map[string]string) error {
	var errs []error
	if len(ls) > MaxLabels {
		errs = append(errs, fmt.Errorf("%w: %d labels, over the limit of %d", ErrBadLabel, len(ls), MaxLabels))
	}
	for _, k := range slices.Sorted(maps.Keys(ls)) {
		if err := ValidateLabelKey(k); err != nil {
			errs = append(errs, err)
		} else if err := ValidateLabelValue(k, ls[k]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LabelKey makes s a valid label key the way Prometheus relabelling and
// exporters do: every byte that is not a letter, digit or _ becomes _, a
// leading digit gets a _ before it, leading underscores are cut to one
// (so a key never starts with the reserved "__"), and the key is cut to
// MaxLabelKeyLen. It returns "" when nothing usable is left ("", "__").
func LabelKey(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= MaxLabelKeyLen {
			break
		}
		c := byte('_') // one per character, however many bytes it takes
		if r < utf8.RuneSelf && labelKeyChar(byte(r)) {
			c = byte(r)
		}
		if b.Len() == 0 && c >= '0' && c <= '9' {
			b.WriteByte('_')
		}
		if c == '_' && b.Len() == 1 && b.String() == "_" {
			continue
		}
		b.WriteByte(c)
	}
	k := b.String()
	if len(k) > MaxLabelKeyLen {
		k = k[:MaxLabelKeyLen]
	}
	if strings.Trim(k, "_") == "" {
		return ""
	}
	return k
}

// LabelValue makes s a valid label value: invalid UTF-8 and control
// characters become U+FFFD, and the value is cut to MaxLabelValueLen bytes
// on a character boundary.
func LabelValue(s string) string {
	if ValidateLabelValue("", s) == nil || s == "" {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsControl(r) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > MaxLabelValueLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Labels builds a valid label set from what a source found, for
// StreamSpec.Labels: sources label streams from data they do not control,
// and a bad label should cost the label, not the stream. Keys and values
// go through LabelKey and LabelValue; pairs left empty are skipped, a
// later pair replaces an earlier one of the same key, and pairs beyond
// MaxLabels are dropped and counted. The zero value is ready to use.
type Labels struct {
	m       map[string]string
	dropped int
}

// Add adds one pair, cleaned.
func (l *Labels) Add(key, value string) {
	k, v := LabelKey(key), LabelValue(value)
	if k == "" || v == "" {
		l.dropped++
		return
	}
	if _, ok := l.m[k]; !ok && len(l.m) >= MaxLabels {
		l.dropped++
		return
	}
	if l.m == nil {
		l.m = make(map[string]string, 4)
	}
	l.m[k] = v
}

// Map returns the labels (nil when there are none) and how many pairs
// were dropped. The map is the builder's own: add nothing after.
func (l *Labels) Map() (map[string]string, int) { return l.m, l.dropped }

// LabelsEqual reports whether two label sets hold the same pairs; nil and
// empty are equal.
func LabelsEqual(a, b map[string]string) bool { return maps.Equal(a, b) }

// MergeLabels returns old with the pairs of new added or replaced, and
// whether that changed anything. When the union would exceed MaxLabels,
// new replaces old entirely: a source's current labels matter more than
// ones it no longer sends. Neither input is modified.
func MergeLabels(old, new map[string]string) (map[string]string, bool) {
	changed := false
	for k, v := range new {
		if ov, ok := old[k]; !ok || ov != v {
			changed = true
			break
		}
	}
	if !changed {
		return old, false
	}
	out := maps.Clone(old)
	if out == nil {
		out = make(map[string]string, len(new))
	}
	maps.Copy(out, new)
	if len(out) > MaxLabels {
		out = maps.Clone(new)
	}
	return out, true
}

// LabelSelector is a filter on labels: key=value pairs that must all be
// present, and keys that must be present with any value.
type LabelSelector []LabelMatch

// LabelMatch is one term of a LabelSelector. Any means the key only needs
// to be present.
type LabelMatch struct {
	Key, Value string
	Any        bool
}

// ParseLabelSelector parses the terms of ?label= query parameters: each
// "key=value" or "key" (the label is present). An empty list selects
// everything.
func ParseLabelSelector(terms []string) (LabelSelector, error) {
	var sel LabelSelector
	for _, t := range terms {
		k, v, hasValue := strings.Cut(t, "=")
		if err := ValidateLabelKey(k); err != nil {
			return nil, fmt.Errorf("label %q: %w", t, err)
		}
		sel = append(sel, LabelMatch{Key: k, Value: v, Any: !hasValue})
	}
	return sel, nil
}

// Match reports whether ls has every label the selector asks for.
func (sel LabelSelector) Match(ls map[string]string) bool {
	for _, m := range sel {
		v, ok := ls[m.Key]
		if !ok || !m.Any && v != m.Value {
			return false
		}
	}
	return true
}
