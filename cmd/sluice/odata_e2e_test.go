package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestODataFeedOfSharedStreams: Power BI's OData connector, pointed at a
// view of a local stream and a partner's shared one on the partner's
// agent, gets typed columns and the rows of a time filter; when the
// owner pauses its sharing, the very next read of the feed is refused by
// the owner's policy, and after resume it reads again. Two real agent
// processes; the requests are the ones Power BI sends (Basic with the
// token as the password, OData-MaxVersion 4.0, Accept of each resource),
// as Power BI itself cannot run here.
func TestODataFeedOfSharedStreams(t *testing.T) {
	quickExit(t)
	acme, north, base := twoTenantsSharing(t)

	view := `{"name": "supply", "interval": "1m", "mode": "interpolated", "window": "-1h", "streams": [
		{"stream": "line2/feed/flow", "label": "flow"},
		{"community": "supply-chain", "tenant": "acme-refinery", "stream": "site1/boiler/temp", "label": "acme temp"}]}`
	req, _ := http.NewRequest("POST", north.addr+"/api/v1/views", strings.NewReader(view))
	req.Header.Set("Authorization", "Bearer "+promAdminToken(t, north))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create view: %d", resp.StatusCode)
	}
	token := strings.TrimSpace(north.ok("", "token", "create", "--name", "powerbi", "--role", "reader"))

	get := func(path, accept string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", north.addr+"/api/v1/views/supply/odata/"+path, nil)
		req.SetBasicAuth("powerbi", token)
		req.Header.Set("Accept", accept)
		req.Header.Set("OData-MaxVersion", "4.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	minimal := "application/json;odata.metadata=minimal"

	if code, body := get("", minimal); code != 200 || !strings.Contains(body, `"url": "Rows"`) && !strings.Contains(body, `"url":"Rows"`) {
		t.Fatalf("service document: %d %s", code, body)
	}
	code, body := get("$metadata", "application/xml")
	if code != 200 || !strings.Contains(body, `<Property Name="flow" Type="Edm.Double"`) ||
		!strings.Contains(body, `<Property Name="acme_temp" Type="Edm.Double"`) {
		t.Fatalf("$metadata: %d %s", code, body)
	}

	// Minutes 5 to 9: the value at minute k is 6k (acme) and 1000+6k.
	filter := fmt.Sprintf("Time ge %s and Time lt %s", base.Add(5*time.Minute).Format(time.RFC3339), base.Add(10*time.Minute).Format(time.RFC3339))
	rows := "Rows?$filter=" + url.QueryEscape(filter)
	read := func() (int, string) { return get(rows, minimal) }
	code, body = read()
	if code != 200 {
		t.Fatalf("rows: %d %s", code, body)
	}
	var page struct {
		Value []struct {
			Time string
			Flow *float64 `json:"flow"`
			Acme *float64 `json:"acme_temp"`
		}
	}
	if err := decodeJSON(body, &page); err != nil || len(page.Value) != 5 {
		t.Fatalf("rows: %v %s", err, body)
	}
	for i, r := range page.Value {
		k := 5 + i
		if r.Time != base.Add(time.Duration(k)*time.Minute).UTC().Format(time.RFC3339) || r.Flow == nil || *r.Flow != float64(1000+6*k) ||
			r.Acme == nil || *r.Acme != float64(6*k) {
			t.Fatalf("row %d: %+v", i, r)
		}
	}

	// The owner pauses: the next read of the feed is refused by its policy.
	acme.ok("", "community", "pause", testCommunity)
	if code, body := read(); code < 400 || !strings.Contains(body, "paused") || !strings.Contains(body, `"error"`) {
		t.Fatalf("after pause: %d %s", code, body)
	}
	acme.ok("", "community", "resume", testCommunity)
	if code, body := read(); code != 200 || !strings.Contains(body, fmt.Sprintf(`"acme_temp":%d`, 6*5)) {
		t.Fatalf("after resume: %d %s", code, body)
	}
}

func decodeJSON(s string, v any) error { return json.Unmarshal([]byte(s), v) }
