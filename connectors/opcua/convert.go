package opcua

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"github.com/sluice-edge/sluice/connectors/point"
)

// dateTime says how DateTime values are stored.
type dateTime uint8

const (
	dtString dateTime = iota // RFC 3339 with nanoseconds, UTC
	dtUnixS                  // float seconds
	dtUnixMS                 // int milliseconds
	dtUnixNS                 // int nanoseconds
)

var dateTimeKinds = map[string]dateTime{"string": dtString, "unix_s": dtUnixS, "unix_ms": dtUnixMS, "unix_ns": dtUnixNS}

func (d dateTime) kind() point.Kind {
	switch d {
	case dtUnixS:
		return point.KindFloat
	case dtUnixMS, dtUnixNS:
		return point.KindInt
	}
	return point.KindString
}

// Why a value cannot be stored.
const (
	reasonArray       = "unsupported_array"
	reasonUnsupported = "unsupported_type"
)

// value converts an OPC UA variant to a store value. A nil or null variant
// gives the zero Value (Kind 0): a point without a value, which the writer
// stores as the zero of its stream's kind (NaN for floats), keeping its
// status code. reason is set when the type cannot be stored (arrays,
// structures): the caller drops the point and counts it.
func value(v *ua.Variant, dt dateTime) (val point.Value, reason string) {
	if v == nil || v.Value() == nil {
		return point.Value{}, ""
	}
	if v.Has(ua.VariantArrayValues) {
		return point.Value{}, reasonArray
	}
	switch x := v.Value().(type) {
	case bool:
		return point.Bool(x), ""
	case int8:
		return point.Int(int64(x)), ""
	case uint8:
		return point.Int(int64(x)), ""
	case int16:
		return point.Int(int64(x)), ""
	case uint16:
		return point.Int(int64(x)), ""
	case int32:
		return point.Int(int64(x)), ""
	case uint32:
		return point.Int(int64(x)), ""
	case int64:
		return point.Int(x), ""
	case uint64:
		if x > math.MaxInt64 {
			return point.Float(float64(x)), ""
		}
		return point.Int(int64(x)), ""
	case float32:
		return point.Float(float64(x)), ""
	case float64:
		return point.Float(x), ""
	case string:
		return point.String(x), ""
	case ua.XMLElement:
		return point.String(string(x)), ""
	case time.Time:
		return timeValue(x, dt), ""
	case *ua.GUID:
		return point.String(x.String()), ""
	case []byte:
		return point.String(base64.StdEncoding.EncodeToString(x)), ""
	case *ua.NodeID:
		return point.String(x.String()), ""
	case *ua.ExpandedNodeID:
		return point.String(x.String()), ""
	case ua.StatusCode:
		return point.Int(int64(x)), ""
	case *ua.QualifiedName:
		if x.NamespaceIndex == 0 {
			return point.String(x.Name), ""
		}
		return point.String(strconv.Itoa(int(x.NamespaceIndex)) + ":" + x.Name), ""
	case *ua.LocalizedText:
		return point.String(x.Text), ""
	}
	return point.Value{}, reasonUnsupported
}

func timeValue(t time.Time, dt dateTime) point.Value {
	switch dt {
	case dtUnixS:
		if t.IsZero() {
			return point.Float(0)
		}
		return point.Float(float64(t.UnixNano()) / 1e9)
	case dtUnixMS:
		if t.IsZero() {
			return point.Int(0)
		}
		return point.Int(t.UnixMilli())
	case dtUnixNS:
		if t.IsZero() {
			return point.Int(0)
		}
		return point.Int(t.UnixNano())
	}
	if t.IsZero() {
		return point.String("")
	}
	return point.String(t.UTC().Format(time.RFC3339Nano))
}

// kindOfDataType maps a variable's DataType attribute (a node id in
// namespace 0 for the built-in types and their well-known subtypes) to a
// stream kind. It returns 0 for abstract and unknown types (BaseDataType,
// structures, enumerations, vendor types): the first value decides.
func kindOfDataType(dataType *ua.NodeID, dt dateTime) point.Kind {
	if dataType == nil || dataType.Namespace() != 0 || dataType.Type() == ua.NodeIDTypeString ||
		dataType.Type() == ua.NodeIDTypeGUID || dataType.Type() == ua.NodeIDTypeByteString {
		return 0
	}
	switch dataType.IntID() {
	case id.Boolean:
		return point.KindBool
	case id.SByte, id.Byte, id.Int16, id.UInt16, id.Int32, id.UInt32, id.Int64, id.UInt64,
		id.Integer, id.UInteger, id.StatusCode, id.Enumeration, id.IntegerID, id.Counter, id.Index:
		return point.KindInt
	case id.Float, id.Double, id.Number, id.Duration, id.Decimal:
		return point.KindFloat
	case id.String, id.LocalizedText, id.QualifiedName, id.NodeID, id.ExpandedNodeID, id.GUID,
		id.ByteString, id.XMLElement, id.LocaleID, id.NumericRange, id.Image, id.ImageBMP,
		id.ImageGIF, id.ImageJPG, id.ImagePNG:
		return point.KindString
	case id.DateTime, id.UtcTime:
		return dt.kind()
	}
	return 0
}

// dataTypeName names a DataType for a stream label: the name of a
// standard type (Double, Int32), else the type's node id ("" if unknown).
func dataTypeName(dt *ua.NodeID) string {
	if dt == nil {
		return ""
	}
	if dt.Namespace() == 0 && dt.Type() != ua.NodeIDTypeString && dt.Type() != ua.NodeIDTypeGUID && dt.Type() != ua.NodeIDTypeByteString {
		if n := id.Name(dt.IntID()); n != "" {
			return n
		}
	}
	return dt.String()
}

// pointTime picks a point's timestamp by the configured preference,
// falling back to the next one when a timestamp is missing.
func pointTime(pref string, dv *ua.DataValue, recv time.Time) int64 {
	switch pref {
	case "source":
		if !dv.SourceTimestamp.IsZero() {
			return dv.SourceTimestamp.UnixNano() + int64(dv.SourcePicoseconds)/1000
		}
		fallthrough
	case "server":
		if !dv.ServerTimestamp.IsZero() {
			return dv.ServerTimestamp.UnixNano() + int64(dv.ServerPicoseconds)/1000
		}
	}
	return recv.UnixNano()
}
