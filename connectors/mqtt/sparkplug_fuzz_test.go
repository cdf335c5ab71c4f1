package mqtt

import (
	_ "embed"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/sluice-edge/sluice/connectors/point"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

//go:embed sparkplug_b.proto
var sparkplugProto string

// FuzzSparkplugPayload holds the hand decoder to the protobuf runtime:
// dynamicpb, over the descriptor of sparkplug_b.proto as shipped, must
// accept exactly the payloads the decoder accepts and read the same
// fields from them. Every payload is then fed to the host as each message
// type, which must not panic and must make only storable points.
func FuzzSparkplugPayload(f *testing.F) {
	md := sparkplugDescriptor(f)
	const ts = 1_700_000_000_000
	for _, p := range []tPayload{
		{},
		{ts: u64(ts), seq: u64(0), metrics: []tMetric{
			metric("bdSeq", 0, spUInt64, uint64(0)),
			metric("Node Control/Rebirth", 1, spBoolean, false),
			{name: str("Supply Voltage"), alias: u64(2), ts: u64(ts), datatype: u32(spFloat), value: float32(12.1),
				props: []tProp{{"engUnit", spString, "V"}, {"Quality", spInt32, tInt(500)}}, desc: str("supply")},
			metric("Count", 3, spInt8, tInt(0xFFFFFFFF)),
			metric("Big", 4, spUInt64, uint64(math.MaxUint64)),
			metric("Name", 5, spString, "pump\xff"),
			{name: str("Gone"), alias: u64(6), datatype: u32(spDouble), null: true},
			metric("Table", 7, 16, tRaw{17, []byte{0x08, 0x02, 0x12, 0x01, 'a', 0x1a, 0x02, 0x03, 0x0c}}),
			metric("UDT", 8, 19, tRaw{18, []byte{0x12, 0x04, 0x0a, 0x02, 'm', '1', 0x28, 0x00}}),
		}},
		{ts: u64(ts + 1), seq: u64(1), metrics: []tMetric{aliased(2, float32(11)), aliased(3, tInt(4)), aliased(99, 1.5), {name: str("Count"), value: uint64(7)}}},
		{ts: u64(math.MaxUint64), seq: u64(300), metrics: []tMetric{{alias: u64(2), ts: u64(math.MaxUint64), value: math.Inf(1)}}},
		{uuid: str("x"), body: []byte{0, 1}, metrics: []tMetric{{value: tRaw{19, []byte{0x08, 0x01}}}}},
	} {
		f.Add(p.encode())
	}
	for _, raw := range [][]byte{
		{0x08, 0x80},             // truncated varint
		{0x12, 0x02, 0x08},       // truncated metric
		{0x0b, 0x08, 0x01, 0x0c}, // group with a field
		{0x0c},                   // stray end group
		{0x09, 1, 2, 3, 4, 5, 6, 7, 8, 0x1a, 0x01, 0x00}, // timestamp as fixed64, seq as bytes
		{0x12, 0x03, 0x4a, 0x01, 0x12},                   // properties: value without its message
		{0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00},             // field number 2^31-1
	} {
		f.Add(raw)
	}
	topics := []string{"spBv1.0/g/NBIRTH/n", "spBv1.0/g/DBIRTH/n/d", "spBv1.0/g/NDATA/n", "spBv1.0/g/DDATA/n/d", "spBv1.0/g/DDEATH/n/d", "spBv1.0/g/NDEATH/n"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ours spPayload
		err := ours.decode(data)
		dyn := dynamicpb.NewMessage(md)
		derr := proto.UnmarshalOptions{RecursionLimit: spMaxDepth}.Unmarshal(data, dyn)
		if (err == nil) != (derr == nil) {
			t.Fatalf("decoder error %v, protobuf error %v", err, derr)
		}
		if err != nil {
			return
		}
		if diff := spCompare(&ours, dyn.ProtoReflect()); diff != "" {
			t.Fatalf("decoded differently from protobuf: %s", diff)
		}

		s := spSource(t, "")
		for _, topic := range topics {
			pts, specs := s.sparkplug(s.subs[0], topic, data, recv)
			if len(specs) != len(pts) {
				t.Fatalf("%d points, %d specs", len(pts), len(specs))
			}
			for i, p := range pts {
				if specs[i] == nil || specs[i].Name != p.Stream || !specs[i].Kind.Valid() {
					t.Fatalf("point %+v with spec %+v", p, specs[i])
				}
				switch {
				case p.Quality == QualitySparkplugDead:
					if p.Value.Kind.Valid() {
						t.Fatalf("death point with a value: %+v", p)
					}
				case p.Value.Kind != specs[i].Kind:
					t.Fatalf("point %+v of kind %v in a %v stream", p, p.Value.Kind, specs[i].Kind)
				case p.Value.Kind == point.KindFloat && (math.IsNaN(p.Value.F) || math.IsInf(p.Value.F, 0)):
					t.Fatalf("non-finite float %+v", p)
				}
			}
		}
	})
}

// spCompare reports the first difference between the decoder's payload
// and protobuf's.
func spCompare(p *spPayload, m protoreflect.Message) string {
	fd := m.Descriptor().Fields()
	get := func(m protoreflect.Message, name string) (protoreflect.Value, bool) {
		f := m.Descriptor().Fields().ByName(protoreflect.Name(name))
		return m.Get(f), m.Has(f)
	}
	if v, has := get(m, "timestamp"); has != p.hasTime || (has && v.Uint() != p.timestamp) {
		return fmt.Sprintf("timestamp %v/%v vs %v/%v", p.hasTime, p.timestamp, has, v)
	}
	if v, has := get(m, "seq"); has != p.hasSeq || (has && v.Uint() != p.seq) {
		return "seq"
	}
	if v, has := get(m, "uuid"); has != p.hasUUID || (has && v.String() != string(p.uuid)) {
		return "uuid"
	}
	if v, has := get(m, "body"); has != p.hasBody || (has && string(v.Bytes()) != string(p.body)) {
		return "body"
	}
	list := m.Get(fd.ByName("metrics")).List()
	if list.Len() != len(p.metrics) {
		return fmt.Sprintf("%d metrics vs %d", len(p.metrics), list.Len())
	}
	for i := range p.metrics {
		if d := spCompareMetric(p, &p.metrics[i], list.Get(i).Message(), get); d != "" {
			return fmt.Sprintf("metric %d: %s", i, d)
		}
	}
	return ""
}

func spCompareMetric(p *spPayload, m *spMetric, dm protoreflect.Message, get func(protoreflect.Message, string) (protoreflect.Value, bool)) string {
	if v, has := get(dm, "name"); has != m.hasName || (has && v.String() != string(m.name)) {
		return "name"
	}
	if v, has := get(dm, "alias"); has != m.hasAlias || (has && v.Uint() != m.alias) {
		return "alias"
	}
	if v, has := get(dm, "timestamp"); has != m.hasTime || (has && v.Uint() != m.timestamp) {
		return "timestamp"
	}
	if v, has := get(dm, "datatype"); has != m.hasType || (has && uint32(v.Uint()) != m.datatype) {
		return "datatype"
	}
	for name, ours := range map[string]bool{"is_historical": m.isHistorical, "is_transient": m.isTransient, "is_null": m.isNull} {
		if v, _ := get(dm, name); v.Bool() != ours {
			return name
		}
	}
	md, has := get(dm, "metadata")
	if has != m.hasMetadata {
		return "metadata"
	}
	if has {
		if v, hd := get(md.Message(), "description"); hd != m.hasDescription || (hd && v.String() != string(m.description)) {
			return "metadata.description"
		}
	}
	ps, _ := get(dm, "properties")
	keys, vals := ps.Message().Get(ps.Message().Descriptor().Fields().ByName("keys")).List(), ps.Message().Get(ps.Message().Descriptor().Fields().ByName("values")).List()
	if keys.Len() != m.k1-m.k0 || vals.Len() != m.v1-m.v0 {
		return fmt.Sprintf("%d/%d properties vs %d/%d", m.k1-m.k0, m.v1-m.v0, keys.Len(), vals.Len())
	}
	for i := range keys.Len() {
		if keys.Get(i).String() != string(p.keys[m.k0+i]) {
			return "property key"
		}
	}
	for i := range vals.Len() {
		pv, dv := &p.vals[m.v0+i], vals.Get(i).Message()
		if v, has := get(dv, "type"); has != pv.hasType || (has && uint32(v.Uint()) != pv.typ) {
			return "property type"
		}
		if v, _ := get(dv, "is_null"); v.Bool() != pv.isNull {
			return "property is_null"
		}
		if d := spCompareValue(pv.value, dv, "value"); d != "" {
			return "property " + d
		}
	}
	return spCompareValue(m.value, dm, "value")
}

// spCompareValue compares a value oneof.
func spCompareValue(v spValue, m protoreflect.Message, oneof string) string {
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName(protoreflect.Name(oneof)))
	if fd == nil {
		if v.field != spNoValue {
			return fmt.Sprintf("value %d vs none", v.field)
		}
		return ""
	}
	want := map[string]spValueField{
		"int_value": spIntValue, "long_value": spLongValue, "float_value": spFloatValue, "double_value": spDoubleValue,
		"boolean_value": spBoolValue, "string_value": spStringValue, "bytes_value": spBytesValue, "dataset_value": spDataSetValue,
		"template_value": spTemplateValue, "extension_value": spExtensionValue, "propertyset_value": spPropertySetValue,
		"propertysets_value": spPropertySetListValue,
	}[string(fd.Name())]
	if v.field != want {
		return fmt.Sprintf("value field %d vs %s", v.field, fd.Name())
	}
	dv := m.Get(fd)
	ok := true
	switch fd.Kind() {
	case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		ok = dv.Uint() == v.u
	case protoreflect.BoolKind:
		ok = dv.Bool() == (v.u != 0)
	case protoreflect.FloatKind:
		f := float32(dv.Float())
		ok = math.Float32bits(f) == uint32(v.u) || (f != f && math.IsNaN(float64(math.Float32frombits(uint32(v.u)))))
	case protoreflect.DoubleKind:
		f := dv.Float()
		ok = math.Float64bits(f) == v.u || (math.IsNaN(f) && math.IsNaN(math.Float64frombits(v.u)))
	case protoreflect.StringKind:
		ok = dv.String() == string(v.b)
	case protoreflect.BytesKind:
		ok = string(dv.Bytes()) == string(v.b)
	}
	if !ok {
		return fmt.Sprintf("%s %v vs %+v", fd.Name(), dv, v)
	}
	return ""
}

// sparkplugDescriptor builds the Payload message descriptor from
// sparkplug_b.proto with a parser of the subset of the protobuf language
// that the file uses (no protoc here).
func sparkplugDescriptor(t testing.TB) protoreflect.MessageDescriptor {
	t.Helper()
	fdp, err := parseProto("sparkplug_b.proto", sparkplugProto)
	if err != nil {
		t.Fatalf("parsing sparkplug_b.proto: %v", err)
	}
	fd, err := protodesc.NewFile(fdp, nil)
	if err != nil {
		t.Fatalf("sparkplug_b.proto: %v", err)
	}
	md := fd.Messages().ByName("Payload")
	if md == nil {
		t.Fatal("sparkplug_b.proto has no Payload")
	}
	return md
}

// The descriptor the fuzz oracle is built from has every field the
// schema has, so that the oracle cannot pass by knowing less.
func TestSparkplugDescriptor(t *testing.T) {
	md := sparkplugDescriptor(t)
	want := map[string]string{
		"Payload":                 "timestamp:1:uint64 metrics:2:Metric seq:3:uint64 uuid:4:string body:5:bytes",
		"Payload.Metric":          "name:1:string alias:2:uint64 timestamp:3:uint64 datatype:4:uint32 is_historical:5:bool is_transient:6:bool is_null:7:bool metadata:8:MetaData properties:9:PropertySet int_value:10:uint32 long_value:11:uint64 float_value:12:float double_value:13:double boolean_value:14:bool string_value:15:string bytes_value:16:bytes dataset_value:17:DataSet template_value:18:Template extension_value:19:MetricValueExtension",
		"Payload.PropertyValue":   "type:1:uint32 is_null:2:bool int_value:3:uint32 long_value:4:uint64 float_value:5:float double_value:6:double boolean_value:7:bool string_value:8:string propertyset_value:9:PropertySet propertysets_value:10:PropertySetList extension_value:11:PropertyValueExtension",
		"Payload.PropertySet":     "keys:1:string values:2:PropertyValue",
		"Payload.PropertySetList": "propertyset:1:PropertySet",
		"Payload.MetaData":        "is_multi_part:1:bool content_type:2:string size:3:uint64 seq:4:uint64 file_name:5:string file_type:6:string md5:7:string description:8:string",
		"Payload.DataSet":         "num_of_columns:1:uint64 columns:2:string types:3:uint32 rows:4:Row",
		"Payload.DataSet.Row":     "elements:1:DataSetValue",
		"Payload.Template":        "version:1:string metrics:2:Metric parameters:3:Parameter template_ref:4:string is_definition:5:bool",
	}
	var walk func(protoreflect.MessageDescriptor)
	seen := 0
	walk = func(md protoreflect.MessageDescriptor) {
		name := strings.TrimPrefix(string(md.FullName()), "org.eclipse.tahu.protobuf.")
		if w, ok := want[name]; ok {
			seen++
			var got []string
			for i := range md.Fields().Len() {
				f := md.Fields().Get(i)
				typ := f.Kind().String()
				if f.Message() != nil {
					typ = string(f.Message().Name())
				}
				got = append(got, fmt.Sprintf("%s:%d:%s", f.Name(), f.Number(), typ))
			}
			if g := strings.Join(got, " "); g != w {
				t.Errorf("%s: %s\nwant %s", name, g, w)
			}
		}
		for i := range md.Messages().Len() {
			walk(md.Messages().Get(i))
		}
	}
	walk(md)
	if seen != len(want) {
		t.Errorf("found %d of %d messages", seen, len(want))
	}
	if r := md.ExtensionRanges(); r.Len() != 1 || r.Get(0)[0] != 6 {
		t.Errorf("extension ranges %v", r)
	}
	if dt := md.ParentFile().Enums().ByName("DataType"); dt == nil || dt.Values().Len() != 35 || dt.Values().ByName("DateTimeArray").Number() != 34 {
		t.Error("enum DataType")
	}
}

// parseProto parses the subset of proto2 that sparkplug_b.proto uses:
// syntax, package, options, enums, nested messages, optional and
// repeated fields of scalar and message types, oneofs and extension
// ranges.
func parseProto(name, src string) (*descriptorpb.FileDescriptorProto, error) {
	p := &protoParser{toks: tokenizeProto(src)}
	fd := &descriptorpb.FileDescriptorProto{Name: proto.String(name)}
	var msgs []*protoMsg
	for !p.done() {
		switch tok := p.next(); tok {
		case "syntax":
			p.want("=")
			fd.Syntax = proto.String(strings.Trim(p.next(), `"`))
			p.want(";")
		case "package":
			fd.Package = proto.String(p.next())
			p.want(";")
		case "option":
			p.skipTo(";")
		case "enum":
			fd.EnumType = append(fd.EnumType, p.enum())
		case "message":
			msgs = append(msgs, p.message())
		default:
			p.fail("unexpected %q", tok)
		}
	}
	if p.err != nil {
		return nil, p.err
	}
	// Resolve type names against the scopes they were written in.
	known := map[string]bool{}
	for _, e := range fd.EnumType {
		known["."+fd.GetPackage()+"."+e.GetName()] = true
	}
	var collect func(prefix string, m *protoMsg)
	collect = func(prefix string, m *protoMsg) {
		full := prefix + "." + m.d.GetName()
		known[full] = true
		for _, n := range m.nested {
			collect(full, n)
		}
	}
	for _, m := range msgs {
		collect("."+fd.GetPackage(), m)
	}
	var resolve func(scope string, m *protoMsg) error
	resolve = func(scope string, m *protoMsg) error {
		full := scope + "." + m.d.GetName()
		for _, f := range m.d.Field {
			if f.Type != nil {
				continue
			}
			ref := f.GetTypeName()
			found := ""
			for s := full; s != ""; s = s[:max(0, strings.LastIndexByte(s, '.'))] {
				if known[s+"."+ref] {
					found = s + "." + ref
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%s.%s: unknown type %s", full, f.GetName(), ref)
			}
			f.TypeName = proto.String(found)
			f.Type = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
		}
		for _, n := range m.nested {
			if err := resolve(full, n); err != nil {
				return err
			}
			m.d.NestedType = append(m.d.NestedType, n.d)
		}
		return nil
	}
	for _, m := range msgs {
		if err := resolve("."+fd.GetPackage(), m); err != nil {
			return nil, err
		}
		fd.MessageType = append(fd.MessageType, m.d)
	}
	return fd, nil
}

type protoMsg struct {
	d      *descriptorpb.DescriptorProto
	nested []*protoMsg
}

type protoParser struct {
	toks []string
	i    int
	err  error
}

func (p *protoParser) done() bool { return p.err != nil || p.i >= len(p.toks) }

func (p *protoParser) next() string {
	if p.done() {
		p.fail("unexpected end")
		return ""
	}
	p.i++
	return p.toks[p.i-1]
}

func (p *protoParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("token %d: %s", p.i, fmt.Sprintf(format, args...))
	}
}

func (p *protoParser) want(tok string) {
	if got := p.next(); got != tok {
		p.fail("want %q, got %q", tok, got)
	}
}

func (p *protoParser) skipTo(tok string) {
	for !p.done() && p.next() != tok {
	}
}

func (p *protoParser) number() int32 {
	s := p.next()
	if s == "max" {
		return int32(protowire.MaxValidNumber)
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		p.fail("want a number, got %q", s)
	}
	return int32(n)
}

func (p *protoParser) enum() *descriptorpb.EnumDescriptorProto {
	e := &descriptorpb.EnumDescriptorProto{Name: proto.String(p.next())}
	p.want("{")
	for !p.done() {
		tok := p.next()
		if tok == "}" {
			break
		}
		p.want("=")
		e.Value = append(e.Value, &descriptorpb.EnumValueDescriptorProto{Name: proto.String(tok), Number: proto.Int32(p.number())})
		p.want(";")
	}
	return e
}

var protoScalars = map[string]descriptorpb.FieldDescriptorProto_Type{
	"uint32": descriptorpb.FieldDescriptorProto_TYPE_UINT32, "uint64": descriptorpb.FieldDescriptorProto_TYPE_UINT64,
	"int32": descriptorpb.FieldDescriptorProto_TYPE_INT32, "int64": descriptorpb.FieldDescriptorProto_TYPE_INT64,
	"float": descriptorpb.FieldDescriptorProto_TYPE_FLOAT, "double": descriptorpb.FieldDescriptorProto_TYPE_DOUBLE,
	"bool": descriptorpb.FieldDescriptorProto_TYPE_BOOL, "string": descriptorpb.FieldDescriptorProto_TYPE_STRING,
	"bytes": descriptorpb.FieldDescriptorProto_TYPE_BYTES,
}

func (p *protoParser) field(label descriptorpb.FieldDescriptorProto_Label, typ string) *descriptorpb.FieldDescriptorProto {
	f := &descriptorpb.FieldDescriptorProto{Label: label.Enum(), Name: proto.String(p.next())}
	p.want("=")
	f.Number = proto.Int32(p.number())
	p.want(";")
	if t, ok := protoScalars[typ]; ok {
		f.Type = t.Enum()
	} else {
		f.TypeName = proto.String(typ) // resolved later
	}
	return f
}

func (p *protoParser) message() *protoMsg {
	m := &protoMsg{d: &descriptorpb.DescriptorProto{Name: proto.String(p.next())}}
	p.want("{")
	for !p.done() {
		switch tok := p.next(); tok {
		case "}":
			return m
		case "message":
			m.nested = append(m.nested, p.message())
		case "enum":
			m.d.EnumType = append(m.d.EnumType, p.enum())
		case "optional", "repeated", "required":
			label := map[string]descriptorpb.FieldDescriptorProto_Label{
				"optional": descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL,
				"repeated": descriptorpb.FieldDescriptorProto_LABEL_REPEATED,
				"required": descriptorpb.FieldDescriptorProto_LABEL_REQUIRED,
			}[tok]
			m.d.Field = append(m.d.Field, p.field(label, p.next()))
		case "oneof":
			idx := int32(len(m.d.OneofDecl))
			m.d.OneofDecl = append(m.d.OneofDecl, &descriptorpb.OneofDescriptorProto{Name: proto.String(p.next())})
			p.want("{")
			for !p.done() {
				typ := p.next()
				if typ == "}" {
					break
				}
				f := p.field(descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL, typ)
				f.OneofIndex = proto.Int32(idx)
				m.d.Field = append(m.d.Field, f)
			}
		case "extensions":
			start := p.number()
			p.want("to")
			end := p.number()
			p.want(";")
			m.d.ExtensionRange = append(m.d.ExtensionRange, &descriptorpb.DescriptorProto_ExtensionRange{
				Start: proto.Int32(start), End: proto.Int32(end + 1),
			})
		case "option", "reserved":
			p.skipTo(";")
		default:
			p.fail("unexpected %q in message %s", tok, m.d.GetName())
		}
	}
	return m
}

// tokenizeProto splits protobuf source into identifiers, numbers,
// strings and punctuation, dropping comments.
func tokenizeProto(src string) []string {
	var toks []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return append(toks, src[i:])
			}
			i += end + 4
		case c == '"':
			end := strings.IndexByte(src[i+1:], '"')
			if end < 0 {
				return append(toks, src[i:])
			}
			toks = append(toks, src[i:i+end+2])
			i += end + 2
		case c == '_' || c == '.' || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)):
			j := i
			for j < len(src) && (src[j] == '_' || src[j] == '.' || unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j]))) {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		default:
			toks = append(toks, string(c))
			i++
		}
	}
	return toks
}
