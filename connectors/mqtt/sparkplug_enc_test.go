package mqtt

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// A small test-only encoder of sparkplug_b.proto messages, written from
// the schema (the source only decodes, apart from its rebirth request).
// Optional fields are pointers; nil leaves them out.

type tPayload struct {
	ts, seq *uint64
	metrics []tMetric
	uuid    *string
	body    []byte
}

type tMetric struct {
	name                  *string
	alias, ts             *uint64
	datatype              *uint32
	hist, transient, null bool
	desc                  *string // metadata.description
	props                 []tProp
	value                 any // tInt, uint64, float32, float64, bool, string, []byte, tRaw, or nil
}

type tProp struct {
	key   string
	typ   uint32
	value any // tInt, uint64, float32, float64, bool, string
}

// tInt is a value sent in int_value (uint32).
type tInt uint32

// tRaw is a value field sent as is: its field number and encoded message.
type tRaw struct {
	num protowire.Number
	msg []byte
}

func u64(v uint64) *uint64 { return &v }
func u32(v uint32) *uint32 { return &v }
func str(v string) *string { return &v }

// metric builds a birth metric: name, alias, datatype, value.
func metric(name string, alias uint64, dt uint32, v any) tMetric {
	return tMetric{name: str(name), alias: u64(alias), datatype: u32(dt), value: v}
}

// aliased builds a data metric: alias and value only.
func aliased(alias uint64, v any) tMetric { return tMetric{alias: u64(alias), value: v} }

func (p tPayload) encode() []byte {
	var b []byte
	if p.ts != nil {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, *p.ts)
	}
	for _, m := range p.metrics {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, m.encode())
	}
	if p.seq != nil {
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, *p.seq)
	}
	if p.uuid != nil {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, *p.uuid)
	}
	if p.body != nil {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, p.body)
	}
	return b
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return appendVarintField(b, num, 1)
}

// appendValue appends a oneof value whose int_value is field base.
func appendValue(b []byte, base protowire.Number, v any) []byte {
	switch v := v.(type) {
	case nil:
	case tInt:
		b = appendVarintField(b, base, uint64(v))
	case uint64:
		b = appendVarintField(b, base+1, v)
	case float32:
		b = protowire.AppendTag(b, base+2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(v))
	case float64:
		b = protowire.AppendTag(b, base+3, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(v))
	case bool:
		b = protowire.AppendTag(b, base+4, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(v))
	case string:
		b = protowire.AppendTag(b, base+5, protowire.BytesType)
		b = protowire.AppendString(b, v)
	case []byte:
		b = protowire.AppendTag(b, base+6, protowire.BytesType)
		b = protowire.AppendBytes(b, v)
	case tRaw:
		b = protowire.AppendTag(b, v.num, protowire.BytesType)
		b = protowire.AppendBytes(b, v.msg)
	default:
		panic("tMetric: unknown value type")
	}
	return b
}

func (m tMetric) encode() []byte {
	var b []byte
	if m.name != nil {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, *m.name)
	}
	if m.alias != nil {
		b = appendVarintField(b, 2, *m.alias)
	}
	if m.ts != nil {
		b = appendVarintField(b, 3, *m.ts)
	}
	if m.datatype != nil {
		b = appendVarintField(b, 4, uint64(*m.datatype))
	}
	b = appendBool(b, 5, m.hist)
	b = appendBool(b, 6, m.transient)
	b = appendBool(b, 7, m.null)
	if m.desc != nil {
		var md []byte
		md = protowire.AppendTag(md, 8, protowire.BytesType)
		md = protowire.AppendString(md, *m.desc)
		b = protowire.AppendTag(b, 8, protowire.BytesType)
		b = protowire.AppendBytes(b, md)
	}
	if len(m.props) > 0 {
		b = protowire.AppendTag(b, 9, protowire.BytesType)
		b = protowire.AppendBytes(b, encodeProps(m.props))
	}
	return appendValue(b, 10, m.value)
}

func encodeProps(props []tProp) []byte {
	var ps []byte
	for _, p := range props {
		ps = protowire.AppendTag(ps, 1, protowire.BytesType)
		ps = protowire.AppendString(ps, p.key)
	}
	for _, p := range props {
		var pv []byte
		pv = appendVarintField(pv, 1, uint64(p.typ))
		pv = appendValue(pv, 3, p.value)
		ps = protowire.AppendTag(ps, 2, protowire.BytesType)
		ps = protowire.AppendBytes(ps, pv)
	}
	return ps
}
