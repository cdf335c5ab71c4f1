package agent

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/connectors/point"
)

// odataGet sends a request as Power BI's OData connector does: Basic
// credentials (any user name, the API token as the password), OData-
// MaxVersion 4.0, and the Accept of the resource.
func odataGet(t *testing.T, rawURL, token, accept string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("powerbi", token)
	req.Header.Set("Accept", accept)
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

const odataMinimal = "application/json;odata.metadata=minimal"

// readerToken makes a device user with the reader role and returns its token.
func readerToken(t *testing.T, c *api.Client, name string) string {
	t.Helper()
	ctx := context.Background()
	if err := c.JSON(ctx, "POST", "/api/v1/users", nil, map[string]any{"name": name, "no_password": true,
		"roles": []map[string]any{{"role": "reader"}}}, nil); err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := c.JSON(ctx, "POST", "/api/v1/users/"+name+"/tokens", nil, map[string]string{"label": name}, &tok); err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// TestODataFeed: a view's OData feed, asked the way Power BI's "OData
// feed" connector asks: the service document, $metadata (CSDL with EDM
// types from the streams' kinds), the rows with a folded time filter,
// $select, $orderby, $top, $skip, $count, and server-driven paging
// followed to its end; OData errors for what it cannot fold.
func TestODataFeed(t *testing.T) {
	a, c := startTestAgent(t, "odata")
	ctx := context.Background()
	kinds := map[string]point.Kind{"site/temp": point.KindFloat, "site/count": point.KindInt,
		"site/on": point.KindBool, "site/state": point.KindString}
	for name, k := range kinds {
		if err := a.store.EnsureStream(ctx, point.StreamSpec{Name: name, Kind: k}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var pts []point.Point
	for i := range 10 {
		ts := t0.Add(time.Duration(i) * time.Minute).UnixNano()
		pts = append(pts,
			point.Point{Stream: "site/temp", Time: ts, Value: point.Float(20 + float64(i)/2)},
			point.Point{Stream: "site/count", Time: ts, Value: point.Int(int64(i))},
			point.Point{Stream: "site/on", Time: ts, Value: point.Bool(i%2 == 0)},
			point.Point{Stream: "site/state", Time: ts, Value: point.String(fmt.Sprintf("s%d", i))})
	}
	if err := a.store.Write(ctx, pts); err != nil {
		t.Fatal(err)
	}
	view := map[string]any{"name": "boiler line", "interval": "1m", "mode": "interpolated", "window": "-24h",
		"streams": []map[string]string{{"stream": "site/temp"}, {"stream": "site/count", "label": "count"},
			{"stream": "site/on"}, {"stream": "site/state", "label": "state"}}}
	if err := c.JSON(ctx, "POST", "/api/v1/views", nil, view, nil); err != nil {
		t.Fatal(err)
	}
	tok := readerToken(t, c, "powerbi")
	root := c.Base + "/api/v1/views/boiler%20line/odata/"

	// The service document, at the root with and without its slash.
	for _, u := range []string{root, strings.TrimSuffix(root, "/")} {
		code, h, body := odataGet(t, u, tok, odataMinimal)
		var doc struct {
			Context string `json:"@odata.context"`
			Value   []struct{ Name, Kind, URL string }
		}
		if code != 200 || json.Unmarshal(body, &doc) != nil || doc.Context != root+"$metadata" ||
			len(doc.Value) != 1 || doc.Value[0].Name != "Rows" || doc.Value[0].Kind != "EntitySet" || doc.Value[0].URL != "Rows" {
			t.Fatalf("service document %s: %d %s", u, code, body)
		}
		if h.Get("OData-Version") != "4.0" || !strings.HasPrefix(h.Get("Content-Type"), "application/json;odata.metadata=minimal") {
			t.Fatalf("service document headers: %v", h)
		}
	}

	// $metadata: CSDL XML, Time the key, one typed property per stream.
	code, h, body := odataGet(t, root+"$metadata", tok, "application/xml")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/xml") || h.Get("OData-Version") != "4.0" {
		t.Fatalf("$metadata: %d %v %s", code, h, body)
	}
	var csdl struct {
		Version string `xml:"Version,attr"`
		Schemas []struct {
			Namespace string `xml:"Namespace,attr"`
			Types     []struct {
				Name string `xml:"Name,attr"`
				Key  []struct {
					Name string `xml:"Name,attr"`
				} `xml:"Key>PropertyRef"`
				Props []struct {
					Name     string `xml:"Name,attr"`
					Type     string `xml:"Type,attr"`
					Nullable string `xml:"Nullable,attr"`
				} `xml:"Property"`
			} `xml:"EntityType"`
			Container struct {
				Sets []struct {
					Name       string `xml:"Name,attr"`
					EntityType string `xml:"EntityType,attr"`
				} `xml:"EntitySet"`
			} `xml:"EntityContainer"`
		} `xml:"DataServices>Schema"`
	}
	if err := xml.Unmarshal(body, &csdl); err != nil {
		t.Fatalf("$metadata is not XML: %v\n%s", err, body)
	}
	if csdl.Version != "4.0" || len(csdl.Schemas) != 1 || len(csdl.Schemas[0].Types) != 1 || len(csdl.Schemas[0].Container.Sets) != 1 {
		t.Fatalf("$metadata shape: %+v\n%s", csdl, body)
	}
	et := csdl.Schemas[0].Types[0]
	set := csdl.Schemas[0].Container.Sets[0]
	if len(et.Key) != 1 || et.Key[0].Name != "Time" || set.Name != "Rows" || set.EntityType != csdl.Schemas[0].Namespace+"."+et.Name {
		t.Fatalf("key %+v, set %+v", et.Key, set)
	}
	var props []string
	for _, p := range et.Props {
		props = append(props, p.Name+":"+p.Type)
	}
	if got, want := strings.Join(props, " "), "Time:Edm.DateTimeOffset site_temp:Edm.Double count:Edm.Int64 site_on:Edm.Boolean state:Edm.String"; got != want {
		t.Fatalf("properties %s, want %s", got, want)
	}
	if !strings.Contains(string(body), `Term="Capabilities.FilterRestrictions"`) {
		t.Fatalf("$metadata does not say what filters fold:\n%s", body)
	}

	type row struct {
		Time     string
		SiteTemp *float64 `json:"site_temp"`
		Count    *int64   `json:"count"`
		SiteOn   *bool    `json:"site_on"`
		State    *string  `json:"state"`
	}
	type page struct {
		Context  string `json:"@odata.context"`
		Count    *int   `json:"@odata.count"`
		Value    []row  `json:"value"`
		NextLink string `json:"@odata.nextLink"`
	}
	get := func(u string, hdr ...string) (page, http.Header) {
		t.Helper()
		code, h, body := odataGet(t, u, tok, odataMinimal, hdr...)
		var p page
		if code != 200 || json.Unmarshal(body, &p) != nil {
			t.Fatalf("GET %s: %d %s", u, code, body)
		}
		return p, h
	}
	q := func(v url.Values) string { return root + "Rows?" + strings.ReplaceAll(v.Encode(), "%24", "$") }
	jan := "Time ge 2026-01-01T00:00:00Z and Time lt 2026-01-01T00:10:00Z"

	// One page: every row and column, typed.
	p, _ := get(q(url.Values{"$filter": {jan}}))
	if p.Context != root+"$metadata#Rows" || len(p.Value) != 10 || p.NextLink != "" {
		t.Fatalf("rows: %+v", p)
	}
	for i, r := range p.Value {
		wantTime := t0.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		if r.Time != wantTime || r.SiteTemp == nil || *r.SiteTemp != 20+float64(i)/2 || r.Count == nil || *r.Count != int64(i) ||
			r.SiteOn == nil || *r.SiteOn != (i%2 == 0) || r.State == nil || *r.State != fmt.Sprintf("s%d", i) {
			t.Fatalf("row %d: %+v", i, r)
		}
	}

	// Server-driven paging: 3 rows a page, descending, with a count,
	// followed to the end; the nextLinks are absolute and carry no token.
	var times []string
	u := q(url.Values{"$filter": {jan}, "$orderby": {"Time desc"}, "$count": {"true"}, "$select": {"Time,count"}})
	for n := 0; u != ""; n++ {
		if n > 10 {
			t.Fatal("paging does not end")
		}
		p, h := get(u, "Prefer", "odata.maxpagesize=3")
		if h.Get("Preference-Applied") != "odata.maxpagesize=3" || len(p.Value) > 3 {
			t.Fatalf("page %d: %d rows, Preference-Applied %q", n, len(p.Value), h.Get("Preference-Applied"))
		}
		if n == 0 && (p.Count == nil || *p.Count != 10 || p.Context != root+"$metadata#Rows(Time,count)") {
			t.Fatalf("first page: %+v", p)
		}
		for _, r := range p.Value {
			if r.SiteTemp != nil || r.Count == nil {
				t.Fatalf("$select: %+v", r)
			}
			times = append(times, r.Time[14:16])
		}
		if p.NextLink != "" && (!strings.HasPrefix(p.NextLink, root+"Rows?") || strings.Contains(p.NextLink, "&token=") || strings.Contains(p.NextLink, "?token=")) {
			t.Fatalf("nextLink %s", p.NextLink)
		}
		u = p.NextLink
	}
	if got := strings.Join(times, ","); got != "09,08,07,06,05,04,03,02,01,00" {
		t.Fatalf("paged minutes %s", got)
	}

	// $top and $skip, with paging in between.
	times = nil
	for u := q(url.Values{"$filter": {jan}, "$top": {"5"}, "$skip": {"2"}}); u != ""; {
		p, _ := get(u, "Prefer", "odata.maxpagesize=2")
		for _, r := range p.Value {
			times = append(times, r.Time[14:16])
		}
		u = p.NextLink
	}
	if got := strings.Join(times, ","); got != "02,03,04,05,06" {
		t.Fatalf("$skip=2&$top=5: %s", got)
	}

	// Rows/$count, and $filter bounds that are not on the grid.
	code, _, body = odataGet(t, root+"Rows/$count?$filter="+url.QueryEscape("Time gt 2026-01-01T00:02:30Z and Time le 2026-01-01T00:05:00Z"), tok, "text/plain")
	if code != 200 || string(body) != "3" {
		t.Fatalf("$count: %d %s", code, body)
	}

	// What it cannot fold: a 400 in OData's error format naming it.
	for _, c := range []struct{ query, target, says string }{
		{"$filter=" + url.QueryEscape("site_temp gt 21"), "$filter", "site_temp is a value column"},
		{"$filter=" + url.QueryEscape("Time ge 2026-01-01T00:00:00Z or Time lt 2025-01-01T00:00:00Z"), "$filter", "or is not supported"},
		{"$orderby=count", "$orderby", "only Time can order"},
		{"$expand=x", "$expand", "not supported"},
		{"$select=nope", "$select", `no property "nope"`},
		{"$top=-1", "$top", "non-negative"},
		{"$skiptoken=garbage", "$skiptoken", "follow @odata.nextLink"},
	} {
		code, h, body := odataGet(t, root+"Rows?"+c.query, tok, odataMinimal)
		var e struct {
			Error struct{ Code, Message, Target string }
		}
		if code != 400 || json.Unmarshal(body, &e) != nil || e.Error.Code == "" || e.Error.Target != c.target ||
			!strings.Contains(e.Error.Message, c.says) || h.Get("OData-Version") != "4.0" {
			t.Errorf("%s: %d %s, want a 400 OData error on %s saying %q", c.query, code, body, c.target, c.says)
		}
	}
	// An OData 3 client is told, not served a format it cannot read.
	if code, _, body := odataGet(t, root+"Rows", tok, odataMinimal, "OData-MaxVersion", "3.0"); code != 400 || !strings.Contains(string(body), "OData 4.0") {
		t.Fatalf("OData-MaxVersion 3.0: %d %s", code, body)
	}

	// Credentials: the ?token= of Power BI's "Web API" key works, no
	// credentials get a 401 that offers Basic, and a wrong token is 401.
	resp, err := http.Get(root + "Rows?$top=1&token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("?token=: %d", resp.StatusCode)
	}
	resp, err = http.Get(root + "$metadata")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), ","), "Basic") {
		t.Fatalf("no credentials: %d %v", resp.StatusCode, resp.Header)
	}
	if code, _, _ := odataGet(t, root+"Rows", "sk_wrong", odataMinimal); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}

	// A summary view: a row is the summary of the interval it starts,
	// whole even where the filter ends inside it; statistics are doubles.
	sum := map[string]any{"name": "means", "interval": "5m", "mode": "mean",
		"streams": []map[string]string{{"stream": "site/temp"}, {"stream": "site/count"}}}
	if err := c.JSON(ctx, "POST", "/api/v1/views", nil, sum, nil); err != nil {
		t.Fatal(err)
	}
	if code, _, body := odataGet(t, c.Base+"/api/v1/views/means/odata/$metadata", tok, "application/xml"); code != 200 ||
		!strings.Contains(string(body), `Name="site_count" Type="Edm.Double"`) {
		t.Fatalf("summary $metadata: %d %s", code, body)
	}
	code, _, body = odataGet(t, c.Base+"/api/v1/views/means/odata/Rows?$filter="+url.QueryEscape("Time ge 2026-01-01T00:00:00Z and Time lt 2026-01-01T00:06:00Z"), tok, odataMinimal)
	if code != 200 || !strings.Contains(string(body), `"value":[{"Time":"2026-01-01T00:00:00Z","site_temp":21,"site_count":2},{"Time":"2026-01-01T00:05:00Z","site_temp":23.5,"site_count":7}]`) {
		t.Fatalf("summary rows: %d %s", code, body)
	}

	// Each stream is read through its own route and rule: a column the
	// caller cannot read fails the feed with that read's status.
	bad := map[string]any{"name": "partner", "interval": "1m", "mode": "interpolated",
		"streams": []map[string]string{{"stream": "site/temp"}, {"community": "no-such", "tenant": "t-x", "stream": "flow"}}}
	if err := c.JSON(ctx, "POST", "/api/v1/views", nil, bad, nil); err != nil {
		t.Fatal(err)
	}
	code, _, body = odataGet(t, c.Base+"/api/v1/views/partner/odata/Rows", tok, odataMinimal)
	if code < 400 || !strings.Contains(string(body), `"error"`) || !strings.Contains(string(body), "flow") {
		t.Fatalf("a column the caller cannot read: %d %s", code, body)
	}

	// Every read of the rows is audited, without the token.
	res, err := c.Do(ctx, "GET", "/api/v1/audit", url.Values{"kind": {"admin"}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	audit, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(audit), "/odata/Rows") || strings.Contains(string(audit), tok) {
		t.Fatalf("audit of feed reads:\n%s", audit)
	}
}
