package mqtt

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// A hand decoder of the Sparkplug B payload (sparkplug_b.proto) over
// protowire. It accepts and rejects what the protobuf runtime does (proto2:
// a known field with an unexpected wire type is an unknown field, unknown
// fields and groups are skipped but must be well formed, nested messages
// must parse, scalars last-one-wins, a repeated scalar may be packed), and
// keeps only what the source uses, as slices of the payload: nothing is
// allocated for a data message with aliases, once its scratch is warm.
// FuzzSparkplugPayload holds it to dynamicpb over the .proto file.

// spMaxDepth bounds the nesting of messages (templates of templates,
// property sets in property values); the payload is depth 1. The protobuf
// runtime's equivalent is UnmarshalOptions.RecursionLimit.
const spMaxDepth = 100

var errSPDepth = errors.New("messages nested too deeply")

// spValueField says which member of a value oneof was set.
type spValueField uint8

const (
	spNoValue spValueField = iota
	spIntValue
	spLongValue
	spFloatValue  // u holds the float32 bits
	spDoubleValue // u holds the float64 bits
	spBoolValue   // u is 0 or 1
	spStringValue
	spBytesValue
	spDataSetValue
	spTemplateValue
	spExtensionValue
	spPropertySetValue     // property values only
	spPropertySetListValue // property values only
)

// spValue is the value oneof of a metric or property value. Message
// members (data sets, templates, extensions, property sets) are validated
// but kept as their encoded bytes.
type spValue struct {
	field spValueField
	u     uint64
	b     []byte
}

type spPropValue struct {
	typ     uint32
	hasType bool
	isNull  bool
	value   spValue
}

// spMetric is a decoded Payload.Metric. Its properties are
// payload.keys[k0:k1] and payload.vals[v0:v1] (one more than the other if
// the sender miscounted).
type spMetric struct {
	name                                []byte
	alias, timestamp                    uint64
	datatype                            uint32
	hasName, hasAlias, hasTime, hasType bool
	isHistorical, isTransient, isNull   bool
	hasMetadata, hasDescription         bool
	description                         []byte // metadata.description
	k0, k1, v0, v1                      int
	value                               spValue
}

// spPayload is a decoded Payload, reused from message to message.
type spPayload struct {
	timestamp, seq   uint64
	hasTime, hasSeq  bool
	uuid, body       []byte
	hasUUID, hasBody bool
	metrics          []spMetric
	keys             [][]byte
	vals             []spPropValue
}

func (p *spPayload) reset() {
	clear(p.metrics)
	clear(p.keys)
	clear(p.vals)
	*p = spPayload{metrics: p.metrics[:0], keys: p.keys[:0], vals: p.vals[:0]}
}

// props returns a metric's property keys and values, paired.
func (p *spPayload) props(m *spMetric) ([][]byte, []spPropValue) {
	keys, vals := p.keys[m.k0:m.k1], p.vals[m.v0:m.v1]
	n := min(len(keys), len(vals))
	return keys[:n], vals[:n]
}

// spNext reads one field: its number and wire type, the value of a varint
// or fixed field in u, that of a length-delimited one in v, and how many
// bytes it took. Groups are skipped whole.
func spNext(b []byte) (num protowire.Number, typ protowire.Type, u uint64, v []byte, n int, err error) {
	num, typ, n = protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, 0, nil, 0, protowire.ParseError(n)
	}
	if num > protowire.MaxValidNumber {
		return 0, 0, 0, nil, 0, fmt.Errorf("field number %d out of range", num)
	}
	var m int
	switch typ {
	case protowire.VarintType:
		u, m = protowire.ConsumeVarint(b[n:])
	case protowire.Fixed32Type:
		var x uint32
		x, m = protowire.ConsumeFixed32(b[n:])
		u = uint64(x)
	case protowire.Fixed64Type:
		u, m = protowire.ConsumeFixed64(b[n:])
	case protowire.BytesType:
		v, m = protowire.ConsumeBytes(b[n:])
	default:
		m = protowire.ConsumeFieldValue(num, typ, b[n:])
	}
	if m < 0 {
		return 0, 0, 0, nil, 0, fmt.Errorf("field %d: %w", num, protowire.ParseError(m))
	}
	return num, typ, u, v, n + m, nil
}

// decode decodes b into p. The slices of p alias b.
func (p *spPayload) decode(b []byte) error {
	p.reset()
	for len(b) > 0 {
		num, typ, u, v, n, err := spNext(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			p.timestamp, p.hasTime = u, true
		case num == 2 && typ == protowire.BytesType:
			p.metrics = append(p.metrics, spMetric{})
			m := &p.metrics[len(p.metrics)-1]
			m.k0, m.k1, m.v0, m.v1 = len(p.keys), len(p.keys), len(p.vals), len(p.vals)
			if err := p.metric(v, 2, m, true); err != nil {
				return fmt.Errorf("metric %d: %w", len(p.metrics)-1, err)
			}
		case num == 3 && typ == protowire.VarintType:
			p.seq, p.hasSeq = u, true
		case num == 4 && typ == protowire.BytesType:
			p.uuid, p.hasUUID = v, true
		case num == 5 && typ == protowire.BytesType:
			p.body, p.hasBody = v, true
		}
	}
	return nil
}

// metric decodes a Payload.Metric into m. With keep false (members of a
// template) it only validates: properties are not collected.
func (p *spPayload) metric(b []byte, depth int, m *spMetric, keep bool) error {
	if depth > spMaxDepth {
		return errSPDepth
	}
	for len(b) > 0 {
		num, typ, u, v, n, err := spNext(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if typ == protowire.BytesType {
			switch num {
			case 1:
				m.name, m.hasName = v, true
			case 8:
				m.hasMetadata = true
				err = spMetadata(v, depth+1, m)
			case 9:
				err = p.propertySet(v, depth+1, m, keep)
			case 15:
				m.value = spValue{field: spStringValue, b: v}
			case 16:
				m.value = spValue{field: spBytesValue, b: v}
			case 17:
				m.value = spValue{field: spDataSetValue, b: v}
				err = spValidate(spDataSetSchema, v, depth+1)
			case 18:
				m.value = spValue{field: spTemplateValue, b: v}
				err = p.template(v, depth+1)
			case 19:
				m.value = spValue{field: spExtensionValue, b: v}
				err = spValidate(spAnySchema, v, depth+1)
			}
			if err != nil {
				return err
			}
			continue
		}
		switch {
		case typ == protowire.VarintType:
			switch num {
			case 2:
				m.alias, m.hasAlias = u, true
			case 3:
				m.timestamp, m.hasTime = u, true
			case 4:
				m.datatype, m.hasType = uint32(u), true
			case 5:
				m.isHistorical = u != 0
			case 6:
				m.isTransient = u != 0
			case 7:
				m.isNull = u != 0
			case 10:
				m.value = spValue{field: spIntValue, u: uint64(uint32(u))}
			case 11:
				m.value = spValue{field: spLongValue, u: u}
			case 14:
				m.value = spValue{field: spBoolValue, u: spBool(u)}
			}
		case num == 12 && typ == protowire.Fixed32Type:
			m.value = spValue{field: spFloatValue, u: u}
		case num == 13 && typ == protowire.Fixed64Type:
			m.value = spValue{field: spDoubleValue, u: u}
		}
	}
	return nil
}

func spBool(u uint64) uint64 {
	if u != 0 {
		return 1
	}
	return 0
}

// spMetadata decodes a MetaData, of which only the description is kept.
func spMetadata(b []byte, depth int, m *spMetric) error {
	if depth > spMaxDepth {
		return errSPDepth
	}
	for len(b) > 0 {
		num, typ, _, v, n, err := spNext(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if num == 8 && typ == protowire.BytesType {
			m.description, m.hasDescription = v, true
		}
	}
	return nil
}

// propertySet decodes a metric's PropertySet, appending its keys and
// values to the payload's (a second properties field of the metric merges
// into the first, as protobuf merges messages).
func (p *spPayload) propertySet(b []byte, depth int, m *spMetric, keep bool) error {
	if !keep {
		return spValidate(spPropertySetSchema, b, depth)
	}
	if depth > spMaxDepth {
		return errSPDepth
	}
	for len(b) > 0 {
		num, typ, _, v, n, err := spNext(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case 1:
			p.keys = append(p.keys, v)
			m.k1 = len(p.keys)
		case 2:
			var pv spPropValue
			if err := spPropertyValue(v, depth+1, &pv); err != nil {
				return err
			}
			p.vals = append(p.vals, pv)
			m.v1 = len(p.vals)
		}
	}
	return nil
}

func spPropertyValue(b []byte, depth int, pv *spPropValue) error {
	if depth > spMaxDepth {
		return errSPDepth
	}
	for len(b) > 0 {
		num, typ, u, v, n, err := spNext(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			switch num {
			case 1:
				pv.typ, pv.hasType = uint32(u), true
			case 2:
				pv.isNull = u != 0
			case 3:
				pv.value = spValue{field: spIntValue, u: uint64(uint32(u))}
			case 4:
				pv.value = spValue{field: spLongValue, u: u}
			case 7:
				pv.value = spValue{field: spBoolValue, u: spBool(u)}
			}
		case protowire.Fixed32Type:
			if num == 5 {
				pv.value = spValue{field: spFloatValue, u: u}
			}
		case protowire.Fixed64Type:
			if num == 6 {
				pv.value = spValue{field: spDoubleValue, u: u}
			}
		case protowire.BytesType:
			switch num {
			case 8:
				pv.value = spValue{field: spStringValue, b: v}
			case 9:
				pv.value = spValue{field: spPropertySetValue, b: v}
				err = spValidate(spPropertySetSchema, v, depth+1)
			case 10:
				pv.value = spValue{field: spPropertySetListValue, b: v}
				err = spValidate(spPropertySetListSchema, v, depth+1)
			case 11:
				pv.value = spValue{field: spExtensionValue, b: v}
				err = spValidate(spAnySchema, v, depth+1)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// template validates a Template, whose member metrics are metrics too.
func (p *spPayload) template(b []byte, depth int) error {
	if depth > spMaxDepth {
		return errSPDepth
	}
	for len(b) > 0 {
		num, typ, _, v, n, err := spNext(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if typ != protowire.BytesType {
			continue
		}
		switch num {
		case 2:
			var member spMetric
			err = p.metric(v, depth+1, &member, false)
		case 3:
			err = spValidate(spParameterSchema, v, depth+1)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// spSchema says, for a message that is only validated, which fields hold
// messages (and of which schema) and which are packable varint lists.
// Scalars need no entry: any wire type is either theirs or unknown.
type spSchema struct {
	msgs   map[protowire.Number]*spSchema
	packed map[protowire.Number]bool
}

var (
	spAnySchema             = &spSchema{} // extensions: fields unknown to us
	spPropertySetSchema     = &spSchema{}
	spPropertyValueSchema   = &spSchema{}
	spPropertySetListSchema = &spSchema{}
	spDataSetSchema         = &spSchema{}
	spRowSchema             = &spSchema{}
	spDataSetValueSchema    = &spSchema{}
	spParameterSchema       = &spSchema{}
)

func init() {
	spPropertySetSchema.msgs = map[protowire.Number]*spSchema{2: spPropertyValueSchema}
	spPropertyValueSchema.msgs = map[protowire.Number]*spSchema{9: spPropertySetSchema, 10: spPropertySetListSchema, 11: spAnySchema}
	spPropertySetListSchema.msgs = map[protowire.Number]*spSchema{1: spPropertySetSchema}
	spDataSetSchema.msgs = map[protowire.Number]*spSchema{4: spRowSchema}
	spDataSetSchema.packed = map[protowire.Number]bool{3: true}
	spRowSchema.msgs = map[protowire.Number]*spSchema{1: spDataSetValueSchema}
	spDataSetValueSchema.msgs = map[protowire.Number]*spSchema{7: spAnySchema}
	spParameterSchema.msgs = map[protowire.Number]*spSchema{9: spAnySchema}
}

// spValidate checks that b is a well-formed message of schema s.
func spValidate(s *spSchema, b []byte, depth int) error {
	if depth > spMaxDepth {
		return errSPDepth
	}
	for len(b) > 0 {
		num, typ, _, v, n, err := spNext(b)
		if err != nil {
			return err
		}
		b = b[n:]
		if typ != protowire.BytesType {
			continue
		}
		if sub := s.msgs[num]; sub != nil {
			if err := spValidate(sub, v, depth+1); err != nil {
				return err
			}
		} else if s.packed[num] {
			for len(v) > 0 {
				_, m := protowire.ConsumeVarint(v)
				if m < 0 {
					return fmt.Errorf("field %d: %w", num, protowire.ParseError(m))
				}
				v = v[m:]
			}
		}
	}
	return nil
}
