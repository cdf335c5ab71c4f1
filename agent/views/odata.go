package views

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sluice-edge/sluice/agent/api"
)

// The OData v4 feed of a view (docs/api.md, "OData feed"): a read-only
// service with one entity set, Rows, whose entities are the export's rows
// keyed by Time. It is what Power BI's and Excel's "OData feed" connector
// reads, so they get typed columns, folded time filters and paging
// without a connector of ours. Every stream is read the way the export
// reads it (column, through Reads), so the feed shows no more than its
// caller may read.

const (
	odataEntitySet = "Rows"
	odataTimeProp  = "Time"
	odataNamespace = "Sluice"
	// odataPageSize is the default server-driven page; a client may ask
	// for less or more (Prefer: odata.maxpagesize) up to odataMaxPage.
	odataPageSize = 5000
	odataMaxPage  = 50000
	// odataMaxGrid bounds the grid rows of one query window (an interval
	// view; a count view has its count): a year of minutes and more.
	odataMaxGrid = 1_000_000
	// odataChunksPerPage bounds the store reads of one page: a sparse
	// view over a long window answers a short page with a nextLink
	// rather than scanning the whole window in one request.
	odataChunksPerPage = 20
)

// odataError is an OData error answer (JSON format, section 21).
type odataError struct {
	code   int
	msg    string
	target string
}

func (e *odataError) Error() string { return e.msg }

func odataBad(target, format string, a ...any) error {
	return &odataError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, a...), target: target}
}

func odataHeaders(w http.ResponseWriter, contentType string) {
	w.Header().Set("OData-Version", "4.0")
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
}

const odataJSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

func odataFail(w http.ResponseWriter, err error) {
	e := &odataError{code: http.StatusBadRequest, msg: err.Error()}
	var oe *odataError
	var re *readError
	var fe *FilterError
	switch {
	case errors.As(err, &oe):
		e = oe
	case errors.As(err, &fe):
		e = &odataError{code: http.StatusBadRequest, msg: fe.Error(), target: "$filter"}
	case errors.Is(err, ErrNotFound):
		e.code = http.StatusNotFound
	case errors.As(err, &re):
		e.code = re.code
	}
	codes := map[int]string{400: "BadRequest", 404: "NotFound", 406: "NotAcceptable", 403: "Forbidden", 401: "Unauthorized"}
	code := codes[e.code]
	if code == "" {
		code = strings.ReplaceAll(http.StatusText(e.code), " ", "")
	}
	body := map[string]any{"code": code, "message": e.msg}
	if e.target != "" {
		body["target"] = e.target
	}
	odataHeaders(w, "application/json;odata.metadata=minimal;charset=utf-8")
	w.WriteHeader(e.code)
	json.NewEncoder(w).Encode(map[string]any{"error": body})
}

// odataNegotiate refuses what this feed cannot speak: an OData-MaxVersion
// below 4.0, or an Accept (or $format) that rules out JSON (want is the
// media type of the answer: JSON, or XML for $metadata).
func odataNegotiate(r *http.Request, xmlDoc bool) error {
	if mv := r.Header.Get("OData-MaxVersion"); mv != "" {
		if f, err := strconv.ParseFloat(strings.TrimSpace(mv), 64); err == nil && f < 4 {
			return &odataError{code: http.StatusBadRequest, msg: "this feed speaks OData 4.0 only (the request's OData-MaxVersion is " + mv + ")"}
		}
	}
	if f := r.URL.Query().Get("$format"); f != "" {
		mt, _, _ := mime.ParseMediaType(f)
		ok := f == "json" || mt == "application/json"
		if xmlDoc {
			ok = f == "xml" || mt == "application/xml"
		}
		if !ok {
			return &odataError{code: http.StatusNotAcceptable, msg: "$format " + f + ": this resource is " + map[bool]string{true: "xml", false: "json"}[xmlDoc], target: "$format"}
		}
		return nil
	}
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return nil
	}
	want := "application/json"
	if xmlDoc {
		want = "application/xml"
	}
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q := params["q"]; q == "0" || q == "0.0" {
				continue
			}
			if mt == want || mt == "*/*" || mt == "application/*" || (xmlDoc && mt == "text/xml") {
				return nil
			}
		}
	}
	return &odataError{code: http.StatusNotAcceptable, msg: "this resource is " + want + "; the request's Accept rules it out"}
}

// odataRoot is the service root's absolute URL, ending in a slash. Behind
// a reverse proxy the proxy's X-Forwarded-Proto and X-Forwarded-Host
// name the address the client used; they only shape links in the
// caller's own answer.
func odataRoot(r *http.Request, view string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host, _, _ = strings.Cut(h, ",")
		host = strings.TrimSpace(host)
	}
	return scheme + "://" + host + "/api/v1/views/" + url.PathEscape(view) + "/odata/"
}

// odataColumn is one stream of the view as an OData property.
type odataColumn struct {
	src  Source
	name string
}

// odataColumns names the view's streams as OData properties: a
// SimpleIdentifier (letters, digits, _; not starting with a digit; at
// most 128 characters) made from the column's label, unique regardless of
// case (Power BI's column names are case-insensitive) and never Time.
func odataColumns(v View) []odataColumn {
	used := map[string]bool{strings.ToLower(odataTimeProp): true}
	out := make([]odataColumn, 0, len(v.Streams))
	for _, s := range v.Streams {
		base := odataIdent(s.label())
		name := base
		for n := 2; used[strings.ToLower(name)]; n++ {
			name = base + "_" + strconv.Itoa(n)
		}
		used[strings.ToLower(name)] = true
		out = append(out, odataColumn{src: s, name: name})
	}
	return out
}

func odataIdent(label string) string {
	var b strings.Builder
	n := 0
	for _, r := range label {
		if n == 120 { // room for a _N suffix within 128
			break
		}
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			r = '_'
		}
		if n == 0 && unicode.IsDigit(r) {
			b.WriteByte('_')
			n++
		}
		b.WriteRune(r)
		n++
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// odataView negotiates the answer's format (xmlDoc for $metadata) and
// finds the view a request names; on failure it has answered.
func (h *Handler) odataView(w http.ResponseWriter, r *http.Request, xmlDoc bool) (View, bool) {
	if err := odataNegotiate(r, xmlDoc); err != nil {
		odataFail(w, err)
		return View{}, false
	}
	v, err := h.Store.Get(r.PathValue("name"))
	if err != nil {
		odataFail(w, err)
		return View{}, false
	}
	return v, true
}

// serveODataRoot answers the service document.
func (h *Handler) serveODataRoot(w http.ResponseWriter, r *http.Request) {
	v, ok := h.odataView(w, r, false)
	if !ok {
		return
	}
	root := odataRoot(r, v.Name)
	odataHeaders(w, odataJSON)
	json.NewEncoder(w).Encode(map[string]any{
		"@odata.context": root + "$metadata",
		"value":          []map[string]string{{"name": odataEntitySet, "kind": "EntitySet", "url": odataEntitySet}},
	})
}

// edmType is the EDM type of a column: from the mode's statistic, or
// for values of the stream itself from its kind.
func edmType(mode, kind string) string {
	switch mode {
	case "count":
		return "Edm.Int64"
	case "mean", "time_weighted_mean", "stddev", "min", "max":
		return "Edm.Double"
	}
	switch kind {
	case "int":
		return "Edm.Int64"
	case "bool":
		return "Edm.Boolean"
	case "string":
		return "Edm.String"
	}
	return "Edm.Double"
}

// serveODataMetadata answers $metadata: the CSDL (XML) of the view's
// entity type, with the Capabilities annotations that tell a client
// what it may fold into a query (a filter and an order on Time only).
func (h *Handler) serveODataMetadata(w http.ResponseWriter, r *http.Request) {
	v, ok := h.odataView(w, r, true)
	if !ok {
		return
	}
	cols := odataColumns(v)
	types := make([]string, len(cols))
	cache := api.Catalogs{} // one catalog read per community or connection
	for i, c := range cols {
		kind := ""
		// Only the stream's own values keep its kind; statistics do not.
		if v.Mode == ModeInterpolated || v.Mode == "first" || v.Mode == "last" {
			var err error
			if kind, err = h.Reads.Kind(r.Context(), c.src.api(), cache); err != nil {
				odataFail(w, c.src.failed(err))
				return
			}
		}
		types[i] = edmType(v.Mode, kind)
	}
	var b bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		xml.EscapeText(&e, []byte(s))
		return strings.ReplaceAll(e.String(), `"`, "&quot;")
	}
	b.WriteString(xml.Header)
	b.WriteString(`<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">` + "\n")
	b.WriteString(`  <edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml"><edmx:Include Namespace="Org.OData.Core.V1" Alias="Core"/></edmx:Reference>` + "\n")
	b.WriteString(`  <edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml"><edmx:Include Namespace="Org.OData.Capabilities.V1" Alias="Capabilities"/></edmx:Reference>` + "\n")
	b.WriteString(`  <edmx:DataServices>` + "\n")
	b.WriteString(`    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="` + odataNamespace + `">` + "\n")
	b.WriteString(`      <EntityType Name="Row">` + "\n")
	b.WriteString(`        <Key><PropertyRef Name="` + odataTimeProp + `"/></Key>` + "\n")
	// Precision 7: 100 ns, what Power BI's datetimezone and .NET hold.
	b.WriteString(`        <Property Name="` + odataTimeProp + `" Type="Edm.DateTimeOffset" Nullable="false" Precision="7"/>` + "\n")
	for i, c := range cols {
		desc := c.src.Stream
		switch {
		case c.src.Community != "":
			desc = fmt.Sprintf("%s of tenant %s, shared in community %s", c.src.Stream, c.src.Tenant, c.src.Community)
		case c.src.Tenant != "":
			desc = fmt.Sprintf("%s of tenant %s, shared over a connection", c.src.Stream, c.src.Tenant)
		}
		desc += " (" + v.Mode + ")"
		fmt.Fprintf(&b, `        <Property Name="%s" Type="%s" Nullable="true"><Annotation Term="Core.Description" String="%s"/></Property>`+"\n",
			c.name, types[i], esc(desc))
	}
	b.WriteString(`      </EntityType>` + "\n")
	b.WriteString(`      <EntityContainer Name="View">` + "\n")
	fmt.Fprintf(&b, `        <EntitySet Name="%s" EntityType="%s.Row">`+"\n", odataEntitySet, odataNamespace)
	b.WriteString(`          <Annotation Term="Core.Description" String="` + esc("Data view "+v.Name) + `"/>` + "\n")
	var paths strings.Builder
	for _, c := range cols {
		paths.WriteString("<PropertyPath>" + c.name + "</PropertyPath>")
	}
	b.WriteString(`          <Annotation Term="Capabilities.FilterRestrictions"><Record><PropertyValue Property="Filterable" Bool="true"/><PropertyValue Property="NonFilterableProperties"><Collection>` + paths.String() + `</Collection></PropertyValue></Record></Annotation>` + "\n")
	b.WriteString(`          <Annotation Term="Capabilities.SortRestrictions"><Record><PropertyValue Property="Sortable" Bool="true"/><PropertyValue Property="NonSortableProperties"><Collection>` + paths.String() + `</Collection></PropertyValue></Record></Annotation>` + "\n")
	b.WriteString(`          <Annotation Term="Capabilities.CountRestrictions"><Record><PropertyValue Property="Countable" Bool="true"/></Record></Annotation>` + "\n")
	b.WriteString(`          <Annotation Term="Capabilities.TopSupported" Bool="true"/>` + "\n")
	b.WriteString(`          <Annotation Term="Capabilities.SkipSupported" Bool="true"/>` + "\n")
	b.WriteString(`          <Annotation Term="Capabilities.SearchRestrictions"><Record><PropertyValue Property="Searchable" Bool="false"/></Record></Annotation>` + "\n")
	b.WriteString(`          <Annotation Term="Capabilities.ExpandRestrictions"><Record><PropertyValue Property="Expandable" Bool="false"/></Record></Annotation>` + "\n")
	b.WriteString(`          <Annotation Term="Capabilities.InsertRestrictions"><Record><PropertyValue Property="Insertable" Bool="false"/></Record></Annotation>` + "\n")
	b.WriteString(`          <Annotation Term="Capabilities.UpdateRestrictions"><Record><PropertyValue Property="Updatable" Bool="false"/></Record></Annotation>` + "\n")
	b.WriteString(`          <Annotation Term="Capabilities.DeleteRestrictions"><Record><PropertyValue Property="Deletable" Bool="false"/></Record></Annotation>` + "\n")
	b.WriteString(`        </EntitySet>` + "\n")
	b.WriteString(`        <Annotation Term="Capabilities.FilterFunctions"><Collection/></Annotation>` + "\n")
	b.WriteString(`      </EntityContainer>` + "\n")
	b.WriteString(`    </Schema>` + "\n")
	b.WriteString(`  </edmx:DataServices>` + "\n")
	b.WriteString(`</edmx:Edmx>` + "\n")
	odataHeaders(w, "application/xml;charset=utf-8")
	w.Write(b.Bytes())
}

// odataQuery is an entity-set request's system query options.
type odataQuery struct {
	selected []int // column indexes; nil: all
	withTime bool  // Time is among $select (or there is no $select)
	filter   Window
	top      int // -1: none
	skip     int
	desc     bool
	count    bool
	token    *skipToken
	metaNone bool // odata.metadata=none: no @odata.context
}

// skipToken is the opaque $skiptoken of a nextLink: the first page's
// window (so "now" and a count view's grid stay as they were), where the
// next page starts (Cursor: the first time it may hold ascending, the
// time it must stay below descending), how many rows $top still allows,
// and the view's version, so a changed view does not page on mixed rows.
type skipToken struct {
	Lo      int64  `json:"lo"`
	Hi      int64  `json:"hi"`
	Cursor  int64  `json:"c"`
	Left    int    `json:"n"`
	Skip    int    `json:"s,omitempty"` // of $skip, what a short page left to skip
	Updated string `json:"u"`
}

func (t skipToken) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseSkipToken(s string) (*skipToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var t skipToken
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Lo >= t.Hi || t.Left < -1 || t.Skip < 0 {
		return nil, odataBad("$skiptoken", "$skiptoken is not one this feed made: follow @odata.nextLink as it is")
	}
	return &t, nil
}

var odataOptions = map[string]bool{"$select": true, "$filter": true, "$top": true, "$skip": true, "$orderby": true,
	"$count": true, "$skiptoken": true, "$format": true}

func parseODataQuery(r *http.Request, cols []odataColumn) (odataQuery, error) {
	q := odataQuery{top: -1, withTime: true}
	vals := r.URL.Query()
	for k, vs := range vals {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "$") {
			continue // custom query options are ignored, as the spec says
		}
		if !odataOptions[lk] {
			return q, odataBad(k, "%s is not supported by this feed (it takes $select, $filter on Time, $orderby Time, $top, $skip, $count)", k)
		}
		if len(vs) > 1 {
			return q, odataBad(k, "%s is given more than once", k)
		}
		if lk != k {
			vals[lk] = vs
		}
	}
	if s := vals.Get("$select"); s != "" && s != "*" {
		q.withTime, q.selected = false, []int{}
		for _, name := range strings.Split(s, ",") {
			name = strings.TrimSpace(name)
			if name == odataTimeProp {
				q.withTime = true
				continue
			}
			i := slices.IndexFunc(cols, func(c odataColumn) bool { return c.name == name })
			if i < 0 {
				return q, odataBad("$select", "$select: no property %q (the properties are in $metadata)", name)
			}
			if !slices.Contains(q.selected, i) {
				q.selected = append(q.selected, i)
			}
		}
	}
	if s := vals.Get("$filter"); s != "" {
		f, err := ParseFilter(s, odataTimeProp)
		if err != nil {
			return q, err
		}
		q.filter = f
	}
	for _, o := range []struct {
		name string
		into *int
	}{{"$top", &q.top}, {"$skip", &q.skip}} {
		if s := vals.Get(o.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return q, odataBad(o.name, "%s: want a non-negative integer, not %q", o.name, s)
			}
			*o.into = n
		}
	}
	if s := strings.TrimSpace(vals.Get("$orderby")); s != "" {
		f := strings.Fields(s)
		switch {
		case len(f) >= 1 && f[0] != odataTimeProp:
			return q, odataBad("$orderby", "$orderby: only %s can order the rows (asc or desc)", odataTimeProp)
		case len(f) == 2 && f[1] == "desc":
			q.desc = true
		case len(f) == 1 || (len(f) == 2 && f[1] == "asc"):
		default:
			return q, odataBad("$orderby", "$orderby: want %[1]s, %[1]s asc or %[1]s desc", odataTimeProp)
		}
	}
	switch s := vals.Get("$count"); s {
	case "", "false":
	case "true":
		q.count = true
	default:
		return q, odataBad("$count", "$count: want true or false")
	}
	if s := vals.Get("$skiptoken"); s != "" {
		t, err := parseSkipToken(s)
		if err != nil {
			return q, err
		}
		q.token = t
	}
	for _, a := range r.Header.Values("Accept") {
		if strings.Contains(strings.ReplaceAll(a, " ", ""), "odata.metadata=none") {
			q.metaNone = true
		}
	}
	return q, nil
}

// pageSize reads Prefer: odata.maxpagesize (and the older
// odata.maxpagesize spelled without the prefix).
func pageSize(r *http.Request) (int, bool) {
	for _, h := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(h, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if k = strings.TrimSpace(k); k == "odata.maxpagesize" || k == "maxpagesize" {
				if n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(v), `"`)); err == nil && n > 0 {
					return min(n, odataMaxPage), true
				}
			}
		}
	}
	return odataPageSize, false
}

// odataWindow resolves the query window [lo, hi): the filter's bounds,
// else the view's default window ending now; a filter with an end only
// takes the view's window length before that end.
func (h *Handler) odataWindow(v View, f Window) (int64, int64, error) {
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	winLen, _ := parseDuration(strings.TrimPrefix(v.Window, "-"))
	hi := now.UnixNano() + 1 // "now" itself is in
	if f.HasHi {
		hi = f.Hi
	}
	lo := hi - int64(winLen)
	if f.HasLo {
		lo = f.Lo
	}
	return lo, hi, checkGrid(v, lo, hi)
}

// checkGrid bounds the grid rows of a window of an interval view.
func checkGrid(v View, lo, hi int64) error {
	if v.Interval == "" || lo >= hi {
		return nil
	}
	iv, _ := parseDuration(v.Interval)
	if uint64(hi-lo)/uint64(iv) > odataMaxGrid {
		return odataBad("$filter", "the window holds more than %d rows of %s: narrow it with $filter on Time", odataMaxGrid, v.Interval)
	}
	return nil
}

// odataPage is what one walk over the window found.
type odataPage struct {
	times []int64
	cols  []map[int64]json.RawMessage
	// next is the cursor of the following page; done: the window is
	// exhausted in the walk's direction.
	next int64
	done bool
	skip int // what is left of $skip when a page ends before it is used up
}

// walk reads rows of [lo, hi) (the query window; cursor narrows it to the
// part not yet sent) in order, skipping skip rows, until it has want rows
// (-1: all of them, for $count), the window ends, or chunks store reads
// have been made (0: no bound).
func (h *Handler) walk(ctx context.Context, v View, lo, hi, cursor int64, desc bool, skip, want, chunks int) (odataPage, error) {
	pg := odataPage{cols: make([]map[int64]json.RawMessage, len(v.Streams))}
	for i := range pg.cols {
		pg.cols[i] = map[int64]json.RawMessage{}
	}
	from, to := lo, hi // what is left to send
	if desc {
		to = min(to, cursor)
	} else {
		from = max(from, cursor)
	}
	take := func(t0, t1, readLo, readHi int64) (bool, error) {
		cols := make([]map[int64]json.RawMessage, len(v.Streams))
		times := map[int64]bool{}
		for i, s := range v.Streams {
			c, err := h.column(ctx, v, s, readLo, readHi)
			if err != nil {
				return false, err
			}
			cols[i] = c
			for t := range c {
				if t >= t0 && t < t1 {
					times[t] = true
				}
			}
		}
		sorted := make([]int64, 0, len(times))
		for t := range times {
			sorted = append(sorted, t)
		}
		slices.Sort(sorted)
		if desc {
			slices.Reverse(sorted)
		}
		for _, t := range sorted {
			if skip > 0 {
				skip--
				continue
			}
			if want >= 0 && len(pg.times) == want {
				return true, nil
			}
			pg.times = append(pg.times, t)
			for i := range cols {
				if val, ok := cols[i][t]; ok {
					pg.cols[i][t] = val
				}
			}
			if desc {
				pg.next = t
			} else {
				pg.next = t + 1
			}
		}
		return false, nil
	}
	if from >= to {
		pg.done = true
		return pg, nil
	}
	if v.Interval == "" {
		// A count view's grid spans the whole query window: read it all,
		// keep what is left to send.
		full, err := take(from, to, lo, hi)
		if err != nil {
			return pg, err
		}
		pg.done = !full
		return pg, nil
	}
	iv, _ := parseDuration(v.Interval)
	span := int64(iv) * int64(max(want, odataPageSize))
	if want < 0 {
		span = int64(iv) * odataMaxPage
	}
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	floor := func(t int64) int64 {
		q := t / int64(iv) * int64(iv)
		if q > t {
			q -= int64(iv)
		}
		return q
	}
	for n := 0; chunks == 0 || n < chunks; n++ {
		var t0, t1 int64
		if desc {
			t1 = to
			t0 = max(from, floor(to-1)-span+int64(iv))
		} else {
			t0 = from
			t1 = min(to, floor(from)+span)
		}
		// Reads start on the grid; summaries read whole intervals (up
		// to now), so a row is the summary of the interval it starts.
		readLo, readHi := floor(t0), t1
		if v.Mode != ModeInterpolated {
			readHi = min(floor(t1-1)+int64(iv), max(now.UnixNano(), t1))
		}
		full, err := take(t0, t1, readLo, readHi)
		if err != nil {
			return pg, err
		}
		pg.skip = skip
		if full {
			return pg, nil
		}
		if desc {
			to, pg.next = t0, t0
		} else {
			from, pg.next = t1, t1
		}
		if from >= to {
			pg.done = true
			return pg, nil
		}
	}
	return pg, nil
}

// serveODataRows answers the entity set.
func (h *Handler) serveODataRows(w http.ResponseWriter, r *http.Request) {
	v, ok := h.odataView(w, r, false)
	if !ok {
		return
	}
	cols := odataColumns(v)
	q, err := parseODataQuery(r, cols)
	if err != nil {
		odataFail(w, err)
		return
	}
	var lo, hi, cursor int64
	left, skip := q.top, q.skip
	if q.token != nil {
		if q.token.Updated != v.Updated {
			odataFail(w, odataBad("$skiptoken", "the view changed since the first page: read the feed again from its start"))
			return
		}
		lo, hi, cursor, left, skip = q.token.Lo, q.token.Hi, q.token.Cursor, q.token.Left, q.token.Skip
		if err := checkGrid(v, lo, hi); err != nil {
			odataFail(w, err)
			return
		}
	} else {
		if lo, hi, err = h.odataWindow(v, q.filter); err != nil {
			odataFail(w, err)
			return
		}
		if q.filter.Empty() {
			hi = lo
		}
		cursor = lo
		if q.desc {
			cursor = hi
		}
	}
	size, preferred := pageSize(r)
	want := size
	if left >= 0 {
		want = min(want, left)
	}
	var count int
	if q.count {
		all, err := h.walk(r.Context(), v, lo, hi, map[bool]int64{false: lo, true: hi}[q.desc], q.desc, 0, -1, 0)
		if err != nil {
			odataFail(w, err)
			return
		}
		count = len(all.times)
	}
	pg, err := h.walk(r.Context(), v, lo, hi, cursor, q.desc, skip, want, odataChunksPerPage)
	if err != nil {
		odataFail(w, err)
		return
	}
	root := odataRoot(r, v.Name)
	var b bytes.Buffer
	b.WriteByte('{')
	if !q.metaNone {
		ctxURL := root + "$metadata#" + odataEntitySet
		if q.selected != nil {
			var names []string
			if q.withTime {
				names = append(names, odataTimeProp)
			}
			for _, i := range q.selected {
				names = append(names, cols[i].name)
			}
			ctxURL += "(" + strings.Join(names, ",") + ")"
		}
		writeJSONField(&b, "@odata.context", ctxURL)
		b.WriteByte(',')
	}
	if q.count {
		b.WriteString(`"@odata.count":` + strconv.Itoa(count) + ",")
	}
	b.WriteString(`"value":[`)
	show := q.selected
	if show == nil {
		show = make([]int, len(cols))
		for i := range show {
			show[i] = i
		}
	}
	for n, t := range pg.times {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		first := true
		if q.withTime {
			writeJSONField(&b, odataTimeProp, odataTime(t))
			first = false
		}
		for _, i := range show {
			if !first {
				b.WriteByte(',')
			}
			first = false
			k, _ := json.Marshal(cols[i].name)
			b.Write(k)
			b.WriteByte(':')
			b.Write(odataValue(pg.cols[i][t]))
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	sent := len(pg.times)
	if more := !pg.done && (left < 0 || sent < left); more {
		nl := -1
		if left >= 0 {
			nl = left - sent
		}
		next := url.Values{"$skiptoken": {skipToken{Lo: lo, Hi: hi, Cursor: pg.next, Left: nl, Skip: pg.skip, Updated: v.Updated}.encode()}}
		for _, k := range []string{"$select", "$orderby"} {
			if s := r.URL.Query().Get(k); s != "" {
				next.Set(k, s)
			}
		}
		b.WriteByte(',')
		writeJSONField(&b, "@odata.nextLink", root+odataEntitySet+"?"+odataEncode(next))
	}
	b.WriteString("}\n")
	if preferred {
		w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(size))
	}
	odataHeaders(w, odataJSON)
	w.Write(b.Bytes())
}

// serveODataCount answers Rows/$count: the number of rows the $filter
// keeps, as plain text.
func (h *Handler) serveODataCount(w http.ResponseWriter, r *http.Request) {
	v, err := h.Store.Get(r.PathValue("name"))
	if err != nil {
		odataFail(w, err)
		return
	}
	q, err := parseODataQuery(r, odataColumns(v))
	if err != nil {
		odataFail(w, err)
		return
	}
	lo, hi, err := h.odataWindow(v, q.filter)
	if err != nil {
		odataFail(w, err)
		return
	}
	if q.filter.Empty() {
		hi = lo
	}
	all, err := h.walk(r.Context(), v, lo, hi, lo, false, 0, -1, 0)
	if err != nil {
		odataFail(w, err)
		return
	}
	odataHeaders(w, "text/plain;charset=utf-8")
	fmt.Fprint(w, len(all.times))
}

// odataEncode is url.Values.Encode with the "$" of system query options
// left as it is, as OData clients write them, and spaces as %20: OData
// reads a "+" as a plus sign (the + of a time offset), not a space.
func odataEncode(v url.Values) string {
	return strings.NewReplacer("%24", "$", "+", "%20").Replace(v.Encode())
}

func writeJSONField(b *bytes.Buffer, k, v string) {
	kb, _ := json.Marshal(k)
	vb, _ := json.Marshal(v)
	b.Write(kb)
	b.WriteByte(':')
	b.Write(vb)
}

// odataTime writes an Edm.DateTimeOffset to the declared precision (7
// digits: finer ones are cut, not rounded, so a row never moves past a
// filter's bound).
func odataTime(t int64) string {
	t -= ((t % 100) + 100) % 100
	return time.Unix(0, t).UTC().Format("2006-01-02T15:04:05.9999999Z07:00")
}

// odataValue writes a read's JSON value as OData JSON: the API's
// "Infinity" strings of floats become OData's INF, missing values null.
func odataValue(v json.RawMessage) []byte {
	switch string(v) {
	case "":
		return []byte("null")
	case `"Infinity"`:
		return []byte(`"INF"`)
	case `"-Infinity"`:
		return []byte(`"-INF"`)
	}
	return v
}

// mountOData registers the feed's routes (docs/api.md, "OData feed").
func (h *Handler) mountOData(mount func(pattern string, h http.Handler)) {
	mount("GET /api/v1/views/{name}/odata", http.HandlerFunc(h.serveODataRoot))
	mount("GET /api/v1/views/{name}/odata/{$}", http.HandlerFunc(h.serveODataRoot))
	mount("GET /api/v1/views/{name}/odata/$metadata", http.HandlerFunc(h.serveODataMetadata))
	mount("GET /api/v1/views/{name}/odata/"+odataEntitySet, http.HandlerFunc(h.serveODataRows))
	mount("GET /api/v1/views/{name}/odata/"+odataEntitySet+"/$count", http.HandlerFunc(h.serveODataCount))
}
