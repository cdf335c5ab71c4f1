package opcua

import (
	"context"
	"fmt"
	"maps"
	"math"
	"testing"
	"time"

	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/sluice-edge/sluice/connectors/connectortest"
	"github.com/sluice-edge/sluice/connectors/point"
)

// startGopcuaServer runs gopcua's own server in-process, on a free
// loopback port, with security None. Its reads are limited to 32 nodes,
// so the source must split them.
func startGopcuaServer(t *testing.T) (*server.Server, *server.NodeNameSpace, string) {
	t.Helper()
	port := connectortest.FreePort(t, false)
	s := server.New(
		server.EndPoint("127.0.0.1", port),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
	)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ns := server.NewNodeNameSpace(s, "urn:sluice:test")
	return s, ns, fmt.Sprintf("opc.tcp://127.0.0.1:%d", port)
}

// The built-in types map to the store's kinds. gopcua's server does not
// give variables a real DataType, so here the first value decides.
func TestGopcuaServerTypes(t *testing.T) {
	_, ns, endpoint := startGopcuaServer(t)
	ts := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	values := map[string]any{
		"bool": true, "sbyte": int8(-5), "byte": uint8(200), "int16": int16(-300), "uint16": uint16(60000),
		"int32": int32(-70000), "uint32": uint32(4000000000), "int64": int64(-1 << 40), "uint64": uint64(1 << 50),
		"float": float32(1.5), "double": 2.25, "string": "hello", "datetime": ts,
		"guid": ua.NewGUID("72962B91-FA75-4AE6-8D28-B404DC7DAF63"), "bytes": []byte{1, 2, 3},
		"text": &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: "localized"}, "qname": &ua.QualifiedName{NamespaceIndex: 1, Name: "q"},
		"nodeid": ua.NewNumericNodeID(2, 9), "status": ua.StatusBadSensorFailure, "array": []float64{1, 2},
	}
	want := map[string]point.Value{
		"bool": point.Bool(true), "sbyte": point.Int(-5), "byte": point.Int(200), "int16": point.Int(-300),
		"uint16": point.Int(60000), "int32": point.Int(-70000), "uint32": point.Int(4000000000),
		"int64": point.Int(-1 << 40), "uint64": point.Int(1 << 50), "float": point.Float(1.5),
		"double": point.Float(2.25), "string": point.String("hello"), "datetime": point.Int(ts.UnixMilli()),
		"guid": point.String("72962B91-FA75-4AE6-8D28-B404DC7DAF63"), "bytes": point.String("AQID"),
		"text": point.String("localized"), "qname": point.String("1:q"), "nodeid": point.String("ns=2;i=9"),
		"status": point.Int(int64(ua.StatusBadSensorFailure)),
	}
	nodes := "nodes:\n"
	for name, v := range values {
		ns.AddNode(server.NewVariableNode(ua.NewStringNodeID(ns.ID(), name), name, v))
		nodes += fmt.Sprintf("  - {node_id: 'ns=%d;s=%s', stream: 't/{name}'}\n", ns.ID(), name)
	}
	// 40 more, to need two reads of at most 32 nodes, one with a bad
	// status and no value.
	for i := range 40 {
		name := fmt.Sprintf("n%02d", i)
		st := ua.StatusOK
		if i == 39 {
			st = ua.StatusBadOutOfService
		}
		val := ua.MustVariant(float64(i))
		ns.AddNode(server.NewVariableNode(ua.NewStringNodeID(ns.ID(), name), name, func() *ua.DataValue {
			dv := &ua.DataValue{EncodingMask: ua.DataValueValue | ua.DataValueStatusCode | ua.DataValueSourceTimestamp, Value: val, Status: st, SourceTimestamp: ts}
			if st != ua.StatusOK {
				dv.Value, dv.EncodingMask = nil, ua.DataValueStatusCode
			}
			return dv
		}))
		nodes += fmt.Sprintf("  - {node_id: 'ns=%d;s=%s', stream: 'n/{name}'}\n", ns.ID(), name)
	}
	sink := connectortest.NewSink(t, connectortest.Options{})
	r := runSource(t, "gopcua", testConfig(endpoint, noSecurity, "collection: polling\npolling: {interval: 100ms}\ndatetime: unix_ms\n"+nodes), sink, "")
	var streams []string
	for name := range want {
		streams = append(streams, "t/"+name)
	}
	for i := range 40 {
		streams = append(streams, fmt.Sprintf("n/n%02d", i))
	}
	waitEvery(t, sink, streams)
	if n := len(sink.StreamNames()); n != len(streams) {
		t.Errorf("%d streams, want %d: %v", n, len(streams), sink.StreamNames())
	}
	for name, w := range want {
		pts := sink.Points("t/" + name)
		spec, _ := sink.Stream("t/" + name)
		if len(pts) == 0 || pts[0].Value != w || spec.Kind != w.Kind {
			t.Errorf("%s: %+v (kind %v), want %+v", name, pts, spec.Kind, w)
		}
	}
	if p := sink.Points("n/n07"); len(p) != 1 || p[0].Value != point.Float(7) || p[0].Time != ts.UnixNano() {
		t.Errorf("n07: %+v (polled values with an unchanged source timestamp are stored once)", p)
	}
	if p := sink.Points("n/n39"); len(p) != 1 || !math.IsNaN(p[0].Value.F) || p[0].Quality != uint32(ua.StatusBadOutOfService) {
		t.Errorf("n39: %+v", p)
	}
	if _, ok := sink.Stream("t/array"); ok {
		t.Error("an array was stored")
	}
	// Labels: the node's id and names. (This server answers DataType
	// with a type definition; TestNodeOPCUA checks data_type.)
	for stream, want := range map[string]map[string]string{
		"t/double": {"node_id": fmt.Sprintf("ns=%d;s=double", ns.ID()), "browse_name": "double", "display_name": "double"},
		"t/int32":  {"node_id": fmt.Sprintf("ns=%d;s=int32", ns.ID()), "browse_name": "int32", "display_name": "int32"},
	} {
		spec, _ := sink.Stream(stream)
		delete(spec.Labels, "data_type")
		if !maps.Equal(spec.Labels, want) {
			t.Errorf("%s: labels %v, want %v", stream, spec.Labels, want)
		}
	}
	if d := gauge(r.m.Dropped.WithLabelValues("gopcua", reasonArray)); d < 1 {
		t.Errorf("arrays dropped: %v", d)
	}
}
