package webapi

// Fuzz targets of the PI Web API answers: recorded values, updates and
// the resolution of paths. Their seeds run in plain `go test`;
// `go test -fuzz FuzzX` explores.

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/sluice-edge/sluice/connectors"
	"github.com/sluice-edge/sluice/connectors/point"
)

var fuzzKinds = []point.Kind{point.KindFloat, point.KindInt, point.KindBool, point.KindString}

func checkDecoded(t *testing.T, pts []point.Point, k point.Kind) {
	for _, p := range pts {
		if p.Value.Kind != k {
			t.Fatalf("point of kind %v in a %v stream", p.Value.Kind, k)
		}
		if k == point.KindFloat && (math.IsNaN(p.Value.F) || math.IsInf(p.Value.F, 0)) {
			t.Fatalf("non-finite float %v", p.Value.F)
		}
	}
}

func FuzzWebAPIRecorded(f *testing.F) {
	f.Add([]byte(recordedSample))
	f.Add([]byte(`{"Items": [{"WebId": "W1", "Items": [{"Timestamp": "2026-11-23T10:00:00Z", "Value": {"Name": "I/O Timeout", "Value": 246, "IsSystem": true}, "Good": false}, {"Errors": ["Error occurred during writing of the output stream."]}]}]}`))
	f.Add([]byte(`{"WebException": {"Errors": ["boom"], "StatusCode": 500}}`))
	f.Add([]byte(`{"Items": [{"WebId": "W1", "Items": [{"Timestamp": "x", "Value": [1]}, {"Timestamp": "2026-11-23T10:00:00Z", "Value": "1e999"}, {"Timestamp": "2026-11-23T10:00:00Z", "Value": {"Errors": ["bad"]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var resp recordedItems
		if json.NewDecoder(bytes.NewReader(body)).Decode(&resp) != nil {
			return
		}
		failure(resp.Errors, resp.WebException, nil)
		s := &Source{logged: map[string]bool{}, env: connectors.Env{Logger: discardLogger()}, m: testWebMetrics()}
		for _, k := range fuzzKinds {
			for i := range resp.Items {
				it := &resp.Items[i]
				failure(it.Errors, it.WebException, it.Exception)
				st := &piStream{kind: k, webID: it.WebID}
				pts, _, _ := s.decode(it.Items, st, nil, true)
				checkDecoded(t, pts, k)
			}
		}
	})
}

func FuzzWebAPIUpdates(f *testing.F) {
	f.Add([]byte(updatesSample))
	f.Add([]byte(`{"Items": [{"Source": "W1", "Status": "Failed", "Exception": {"Errors": ["expired"]}}]}`))
	f.Add([]byte(`{"Items": [{"Source": "W1", "LatestMarker": "m", "Events": [{"Action": "Delete", "Timestamp": "2026-11-23T10:00:00Z", "Value": 1}, {"Action": "Add", "Timestamp": "2026-11-23T10:00:00.1234567Z", "Value": true, "Substituted": true}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var resp updateItems
		if json.NewDecoder(bytes.NewReader(body)).Decode(&resp) != nil {
			return
		}
		s := &Source{logged: map[string]bool{}, env: connectors.Env{Logger: discardLogger()}, m: testWebMetrics()}
		for _, k := range fuzzKinds {
			for i := range resp.Items {
				it := &resp.Items[i]
				failure(it.Errors, it.WebException, it.Exception)
				st := &piStream{kind: k, marker: it.RequestedMarker}
				findUpdate(resp.Items, i, st, false)
				pts, _, _ := s.decode(it.Events, st, nil, false)
				checkDecoded(t, pts, k)
			}
		}
	})
}

func FuzzWebAPIResolve(f *testing.F) {
	f.Add([]byte(pointSample))
	f.Add([]byte(attributeSample))
	f.Add([]byte(`{"Errors": ["PI Point not found '\\\\PISRV\\Nope'."]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var p piPoint
		var a afAttribute
		if json.Unmarshal(body, &p) == nil {
			pointKind(p.PointType)
			failure(p.Errors, p.WebException, nil)
		}
		if json.Unmarshal(body, &a) == nil {
			attributeKind(a.Type)
			failure(a.Errors, a.WebException, nil)
		}
	})
}
