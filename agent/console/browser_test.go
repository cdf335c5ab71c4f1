package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser test starts two real agents (tenants acme-refinery and
// northwind) as processes of the real binary, and drives the console in
// headless Chromium as their administrators would: sign in, streams, a
// trend, the community handshake, sharing, a partner's trend and its
// denial on pause, the connection manager, a data view and the audit page;
// the status page's disk use and retention, a third agent whose disk is
// "full" (its store keeps more free than any disk has) and the warning
// every page shows then; stream labels and the label filters of the
// streams list and of a community's catalog.
// acme's administrator is a user of the agent, signed in with user and
// password (a session cookie, CSRF token and step-up); northwind's signs in
// with the admin token.
//
// SLUICE_SCREENSHOTS=dir keeps a PNG of each page there; otherwise they go
// to a temporary directory. The README's pictures come from
//
//	SLUICE_SCREENSHOTS=$PWD/docs/screenshots go test -run TestConsoleInBrowser ./agent/console/

const waitFor = 20 * time.Second

func TestConsoleInBrowser(t *testing.T) {
	chrome := findChromium(t)
	bin := buildSluice(t)
	shots := os.Getenv("SLUICE_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	// acme bounds its store and keeps its tank streams for a week.
	a := startAgent(t, bin, "acme-refinery", "store: {max_size: 20GiB, retention: 30d, retention_rules: [{prefix: site1/tank/, max_age: 7d, max_size: 1GiB}]}")
	b := startAgent(t, bin, "northwind")
	now := time.Now().Truncate(time.Second)
	boiler := map[string]string{"site": "plant1", "area": "boiler"}
	a.createStream("site1/boiler/temp", "degC", "Boiler outlet temperature", boiler)
	a.createStream("site1/boiler/pressure", "bar", "Boiler drum pressure", boiler)
	a.createStream("site1/tank/level", "%", "Feed water tank level", map[string]string{"site": "plant1", "area": "tank"})
	b.createStream("line1/flow", "m3/h", "Line 1 product flow", nil)
	// Two hours of data: at 1 s the temperature has more points in an hour
	// than the chart has pixels (summaries); pressure at 10 s does not.
	a.write(series("site1/boiler/temp", now, 2*time.Hour, time.Second, func(x float64) float64 { return 80 + 6*math.Sin(x/600) }))
	a.write(series("site1/boiler/pressure", now, 2*time.Hour, 10*time.Second, func(x float64) float64 { return 12 + math.Cos(x/900) }))
	a.write(series("site1/tank/level", now, 2*time.Hour, 30*time.Second, func(x float64) float64 { return 60 + 20*math.Sin(x/2000) }))
	b.write(series("line1/flow", now, 2*time.Hour, 5*time.Second, func(x float64) float64 { return 40 + 5*math.Sin(x/700) }))

	// acme's administrator: a user of the agent, made with the admin token.
	const user, password = "maria", "correct horse battery staple"
	a.call("POST", "/api/v1/users", "application/json",
		`{"name":"`+user+`","password":"`+password+`","roles":[{"role":"tenant-admin"}]}`)

	br := newBrowser(t, chrome)
	pa := br.tab("acme")
	pb := br.tab("northwind")

	// A browser that never signed in to an agent is shown the token's form
	// first: every agent has its admin token, and a new one nothing else.
	pa.open(a.url + "/")
	pa.waitVisible("#signin-form #token")
	pa.signInForm("token")
	// Sign-in with user and password: a wrong password is refused, the
	// right one opens Streams.
	pa.click("#signin-switch")
	pa.waitVisible("#signin-form #user")
	pa.signInForm("user")
	pa.shot(shots, "signin")
	pa.fill("#user", user)
	pa.fill("#password", "not the password")
	pa.click("#signin-submit")
	pa.waitText("#signin-error", "did not accept")
	pa.fill("#password", password)
	pa.click("#signin-submit")

	// Streams: latest values, search, the stream page.
	pa.waitVisible(`#streams-table tr[data-stream="site1/boiler/temp"] .latest-value`)
	pa.waitText("#tenant-name", "acme-refinery")
	pa.waitText("#who-user", user)
	pa.checkSession(a.url, true)
	pa.shot(shots, "streams")
	pa.fill("#stream-search", "tank")
	pa.waitFunc(`document.querySelectorAll('#streams-table tbody tr').length === 1 && document.querySelector('#streams-table tbody tr').dataset.stream === 'site1/tank/level'`)
	pa.fill("#stream-search", "")
	rows := `[...document.querySelectorAll('#streams-table tbody tr')].map((r) => r.dataset.stream).join(' ')`
	pa.waitFunc(rows + ` === 'site1/boiler/pressure site1/boiler/temp site1/tank/level'`)
	// Each row shows the stream's labels as the agent has them.
	for _, name := range []string{"site1/boiler/temp", "site1/boiler/pressure", "site1/tank/level"} {
		want := strings.Join(a.labels(name), " ")
		if got := pa.eval(fmt.Sprintf(`[...document.querySelectorAll('#streams-table tr[data-stream=%q] .label-chip')].map((e) => e.textContent).join(' ')`, name)); got != want {
			t.Errorf("labels of %s in the list: %q, want %q", name, got, want)
		}
	}
	// The label filter narrows the list (the agent matches ?label=), a
	// chip adds its label to it, and the filter is kept in the URL.
	pa.fill("#stream-label", "area=boiler")
	pa.waitFunc(rows + ` === 'site1/boiler/pressure site1/boiler/temp'`)
	pa.waitText("#stream-count", "2 of 2 streams with area=boiler")
	if h := pa.eval(`location.hash`); h != "#/streams?label=area%3Dboiler" {
		t.Errorf("the label filter in the URL: %q", h)
	}
	pa.fill("#stream-label", "site=plant1, area=tank")
	pa.waitFunc(rows + ` === 'site1/tank/level'`)
	pa.fill("#stream-label", "area=nowhere")
	pa.waitText("#streams-table", "No stream has these labels.")
	pa.fill("#stream-label", "")
	pa.waitFunc(rows + ` === 'site1/boiler/pressure site1/boiler/temp site1/tank/level'`)
	pa.click(`#streams-table tr[data-stream="site1/tank/level"] button.label-chip[data-label="area=tank"]`)
	pa.waitFunc(rows + ` === 'site1/tank/level'`)
	if v := pa.value("#stream-label"); v != "area=tank" {
		t.Errorf("the label filter after a chip: %q", v)
	}
	pa.fill("#stream-label", "")
	pa.waitFunc(rows + ` === 'site1/boiler/pressure site1/boiler/temp site1/tank/level'`)
	pa.click(`#streams-table tr[data-stream="site1/boiler/pressure"] a.stream-link`)
	pa.waitText("#stream-name", "site1/boiler/pressure")
	if got, want := pa.eval(`[...document.querySelectorAll('#stream-labels .label-chip')].map((e) => e.textContent).join(' ')`), strings.Join(a.labels("site1/boiler/pressure"), " "); got != want {
		t.Errorf("labels on the stream page: %q, want %q", got, want)
	}
	pa.waitVisible("#plot canvas")
	pa.waitVisible("#points-table tbody tr td.num")
	// Pressure is drawn raw. The window is the live last hour, so it
	// holds the 360 points of the hour before the data was written less
	// one per 10 s since then: the count depends on how long the pages
	// took to load (on a loaded machine, tens of seconds), not only on
	// the console.
	pa.waitFunc(`(() => { const e = document.querySelector("#legend .series-status");
		const m = e && e.textContent.match(/^raw, (\d+) points$/); return !!m && +m[1] > 300 && +m[1] <= 360; })()`)
	pa.shot(shots, "stream")

	// Status: the store's disk use, free space, max_size and retention
	// per rule, as the agent's status has them; writes go on.
	pa.click(`nav a[data-page="status"]`)
	pa.waitVisible("#store-panel #store-disk")
	pa.eventually(func() bool { return a.checkStorePanel(pa) }, "the disk panel to show the agent's status")
	pa.waitText("#store-panel", "writing")
	if pa.exists("#store-refused") || pa.eval(`String(document.getElementById('store-alert').hidden)`) != "true" {
		t.Error("acme's console warns of refused writes")
	}
	pa.shot(shots, "status")

	// A gateway whose disk is full: its store keeps 1000 TiB free, which
	// no disk has, so it refuses every write. Every page warns of it, and
	// the status page says why.
	f := startAgent(t, bin, "edge-gw", "store: {min_free: 1000TiB}")
	pf := br.tab("edge-gw")
	pf.open(f.url + "/")
	pf.waitVisible("#signin-form #token")
	pf.fill("#token", f.token)
	pf.click("#signin-submit")
	pf.waitVisible("#streams-table")
	pf.waitText("#store-alert-text", "The disk is full: writes are refused since ")
	since := regexp.MustCompile(`since \d{4}-\d\d-\d\d ([01]\d|2[0-3]):[0-5]\d:[0-5]\d`) // 24-hour time
	if txt := pf.eval(`document.getElementById('store-alert').textContent`); !since.MatchString(txt) || !strings.Contains(txt, "file system full") {
		t.Errorf("the full disk's warning: %q", txt)
	}
	pf.click(`nav a[data-page="status"]`)
	pf.waitText("#store-refused", "file system full")
	pf.waitText("#store-panel", "writes refused")
	pf.eventually(func() bool { return f.checkStorePanel(pf) }, "the disk panel to show the agent's status")
	pf.shot(shots, "status-disk-full")
	pf.click(`nav a[data-page="communities"]`)
	pf.waitVisible("#community-list")
	if !since.MatchString(pf.eval(`document.getElementById('store-alert').hidden ? '' : document.getElementById('store-alert-text').textContent`)) {
		t.Error("the full disk's warning is gone on another page")
	}

	// Trend of two local streams: the temperature comes as summaries, the
	// pressure raw; zooming in (a drag across the chart) gives raw points.
	pa.open(a.url + "/#/trend")
	pa.fill("#series-search", "boiler/temp")
	pa.click(`#series-results button.pick[data-series="l~site1%2Fboiler%2Ftemp"]`)
	pa.fill("#series-search", "pressure")
	pa.click(`#series-results button.pick[data-series="l~site1%2Fboiler%2Fpressure"]`)
	temp := `#legend tr[data-series="l~site1%2Fboiler%2Ftemp"] .series-status`
	pa.waitText(temp, "summaries every")
	pa.waitText(`#legend tr[data-series="l~site1%2Fboiler%2Fpressure"] .series-status`, "raw")
	pa.shot(shots, "trend")
	// The time axis is in 24-hour time, as the tables beside it.
	pa.waitFunc(`!!document.querySelector('#plot').dataset.xTicks`)
	ticks := strings.Split(pa.eval(`document.querySelector('#plot').dataset.xTicks`), "|")
	tick24 := regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?(\n\d{4}-\d\d-\d\d)?$`)
	for _, tk := range ticks {
		if !tick24.MatchString(tk) {
			t.Errorf("time axis label %q is not 24-hour HH:MM (labels %q)", tk, ticks)
		}
	}
	if len(ticks) < 2 {
		t.Errorf("time axis labels %q: want several", ticks)
	}
	// And an afternoon tick reads 15:30, not 3:30pm, whatever the time of
	// day the test runs at.
	if got := pa.evalAsync(`import(document.querySelector('script[type=module]').src.replace(/app\.js$/, 'chart.js')).then((m) =>
		m.timeTicks(null, [new Date(2026, 10, 23, 15, 30).getTime() / 1000, new Date(2026, 10, 23, 15, 45).getTime() / 1000], 0, 50, 900).join('|'))`); got != "15:30\n2026-11-23|15:45" {
		t.Errorf("time axis labels of 15:30 and 15:45: %q", got)
	}
	pa.drag("#plot .u-over", 0.45, 0.55)
	pa.waitText(temp, "raw")
	if pa.eval(`document.getElementById('live').checked`) != "false" {
		t.Error("zooming in should stop live follow")
	}

	// The handshake, through both consoles. B signs in in its own tab.
	// northwind has no users but its admin token: the token's form comes
	// first, nothing to switch.
	pb.open(b.url + "/")
	pb.waitVisible("#signin-form #token")
	pb.signInForm("token")
	pb.fill("#token", b.token)
	pb.click("#signin-submit")
	pb.waitVisible("#streams-table")
	pb.click(`nav a[data-page="communities"]`)
	bID := pb.value("#own-tenant-id")
	if len(bID) < 20 {
		t.Fatalf("northwind's tenant id on the page: %q", bID)
	}

	pa.click(`nav a[data-page="communities"]`)
	pa.fill("#community-name", "supply-chain")
	pa.click("#create-community button[type=submit]")
	pa.waitText("#community-title", "supply-chain")
	pa.fill("#invite-email", "ops@northwind.example")
	pa.fill("#invite-tenant", bID)
	pa.click("#invite-submit")
	pa.waitVisible("#invitation-token")
	token := pa.value("#invitation-token")
	if !strings.HasPrefix(token, "sluice-invite-") {
		t.Fatalf("invitation token on the page: %q", token)
	}
	pa.waitVisible(`#invitations-table tr[data-status="pending"]`)
	pa.shot(shots, "community-invite")

	pb.fill("#join-token", token)
	pb.click("#join-accept")
	pb.waitText("#join-result", "Accepted: supply-chain")
	pb.waitVisible(`#communities-table tr[data-community="supply-chain"]`)
	pb.waitText(`#communities-table tr[data-community="supply-chain"]`, "accepted")
	pb.shot(shots, "communities-joined")

	// A community member of acme (a user with only the community-member
	// role, signed in with an API token in its own tab) sees the community
	// and the accepted partner, but none of the admin's actions.
	a.call("POST", "/api/v1/users", "application/json", `{"name":"ivan","password":"another long passphrase","roles":[{"role":"community-member"}]}`)
	var ivan struct{ Token string }
	if err := json.Unmarshal([]byte(a.call("POST", "/api/v1/users/ivan/tokens", "application/json", `{"label":"browser test"}`)), &ivan); err != nil || ivan.Token == "" {
		t.Fatalf("ivan's token: %v", err)
	}
	pm := br.tab("acme-member")
	// This browser signed in to acme with user and password (maria, in
	// the other tab): that form comes first here now; ?with=token asks for
	// the other.
	pm.open(a.url + "/?tab=member#/signin")
	pm.waitVisible("#signin-form")
	pm.signInForm("user")
	pm.open(a.url + "/#/signin?with=token&next=communities")
	pm.waitVisible("#signin-form #token")
	pm.signInForm("token")
	pm.fill("#token", ivan.Token)
	pm.click("#signin-submit")
	pm.waitVisible(`#communities-table tr[data-community="supply-chain"] a.community-link`)
	for _, sel := range []string{"#create-community", "#join-community"} {
		if pm.exists(sel) {
			t.Errorf("a community member sees %s", sel)
		}
	}
	pm.click(`#communities-table tr[data-community="supply-chain"] a.community-link`)
	pm.waitVisible(`#members-table tr[data-tenant="northwind"][data-status="accepted"]`)
	for _, sel := range []string{"#invite-form", "#invite-submit", "button.confirm-member", "button.remove-member", "#delete-community", "#pause", "#share-form:not([hidden])"} {
		if pm.exists(sel) {
			t.Errorf("a community member sees %s", sel)
		}
	}
	if pm.eval(`String(document.querySelector('nav a[data-page="audit"]').hidden)`) != "true" {
		t.Error("a community member sees the audit page in the menu")
	}
	pm.click("#signout")
	pm.waitVisible("#signin-form")

	// A's page refreshes by itself and offers to confirm.
	pa.click(`#members-table tr[data-tenant="northwind"][data-status="accepted"] button.confirm-member`)
	pa.stepUp(password) // confirming a member needs the password again
	pa.waitVisible(`#members-table tr[data-tenant="northwind"][data-status="confirmed"]`)
	pa.fill("#share-stream", "site1/boiler/temp")
	pa.click("#share-submit")
	pa.waitVisible(`#shares-table tr[data-stream="site1/boiler/temp"]`)
	pa.shot(shots, "community")

	// B sees the share in the catalog and trends it beside its own stream.
	pb.click(`#communities-table tr[data-community="supply-chain"] a.community-link`)
	pb.waitText("#community-title", "confirmed")
	catalogRow := `#catalog-table tr[data-stream="site1/boiler/temp"][data-tenant="acme-refinery"]`
	pb.eventually(func() bool {
		if pb.exists(catalogRow) {
			return true
		}
		pb.click("#catalog-refresh")
		return false
	}, "the shared stream in northwind's catalog")
	// The catalog shows a shared stream's labels and filters on them.
	if got, want := pb.eval(`[...document.querySelectorAll('`+catalogRow+` .label-chip')].map((e) => e.textContent).join(' ')`), strings.Join(a.labels("site1/boiler/temp"), " "); got != want {
		t.Errorf("labels in the catalog: %q, want %q", got, want)
	}
	pb.fill("#catalog-label", "area=tank")
	pb.waitText("#catalog-table", "No shared stream has these labels.")
	pb.fill("#catalog-label", "area=boiler, site")
	pb.waitVisible(catalogRow)
	pb.fill("#catalog-label", "")
	pb.waitVisible(catalogRow)
	pb.shot(shots, "catalog")
	pb.click(catalogRow + " a.trend-link")
	pb.waitVisible("#trend-chart #plot canvas")
	pb.fill("#series-search", "flow")
	pb.click(`#series-results button.pick[data-series="l~line1%2Fflow"]`)
	partner := `#legend tr.series-row:first-child .series-status`
	pb.waitText(partner, "summaries every")
	pb.waitText(`#legend tr[data-series="l~line1%2Fflow"] .series-status`, "raw")
	pb.waitText("#legend tr.series-row:first-child", "acme-refinery in supply-chain")
	pb.shot(shots, "trend-partner")

	// A pauses its sharing: B's live chart shows the denial and drops the
	// data, with no reload.
	pa.click("#pause")
	pa.waitVisible("#paused-note")
	pa.shot(shots, "community-paused")
	pb.waitText(partner+" .series-error.denied", "denied: paused")
	if n := pb.eval(`String(document.querySelectorAll('#legend .series-error').length)`); n != "1" {
		t.Errorf("after the pause %s series show an error, want only the partner's", n)
	}
	pb.shot(shots, "trend-denied")
	pa.click("#resume")
	pb.waitText(partner, "summaries every")

	// Connection manager: B asks A for a connection; A reviews it.
	pa.click(`nav a[data-page="connections"]`)
	card := strings.Fields(pa.value("#own-card"))
	if len(card) != 2 {
		t.Fatalf("acme's connection card: %q", card)
	}
	pb.click(`nav a[data-page="connections"]`)
	pb.fill("#conn-tenant", card[0])
	pb.fill("#conn-address", card[1])
	pb.fill("#conn-comment", "quality data for our incoming inspection")
	pb.click("#request-connection button[type=submit]")
	pb.waitVisible(`#outgoing-table tr[data-tenant="acme-refinery"]`)
	pb.shot(shots, "connections-outgoing")
	pa.open(a.url + "/#/connections?tab=incoming")
	pa.click(`#incoming-table tr[data-tenant="northwind"] button.review`)
	pa.click("#review-level")
	pa.selectValue("#review-level", "catalog+data")
	pa.fill("#review-comment", "approved by the plant manager")
	pa.shot(shots, "connections-review")
	pa.click("#review-submit")
	pa.stepUp("not the password")
	pa.waitText("#stepup-error", "Wrong password")
	pa.stepUp(password)
	pa.waitVisible(`#paired-table tr[data-from="northwind"][data-to="acme-refinery"]`)
	pa.waitText("#paired-table", "Catalog and data")
	pa.shot(shots, "connections-paired")

	// A data view of two streams on a 1-minute grid, previewed and exported.
	dl := t.TempDir()
	if _, err := chromedp.CallBrowser(pa.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl,
	}); err != nil {
		t.Fatal(err)
	}
	pa.click(`nav a[data-page="views"]`)
	pa.fill("#view-name", "boiler-hourly")
	pa.click("#new-view button[type=submit]")
	pa.waitText("#view-title", "boiler-hourly")
	for _, id := range []string{"l~site1%2Fboiler%2Ftemp", "l~site1%2Fboiler%2Fpressure"} {
		pa.waitFunc(fmt.Sprintf(`!!document.querySelector('#view-add option[value="%s"]')`, id))
		pa.selectValue("#view-add", id)
	}
	pa.waitFunc(`document.querySelectorAll('#view-series-table tbody tr').length === 2`)
	pa.fill("#view-interval", "5m")
	pa.click("#view-preview-btn")
	pa.waitText("#view-rows", "13 rows, every 5m")
	pa.shot(shots, "data-view")
	pa.click("#view-csv")
	csv := waitFile(t, filepath.Join(dl, "boiler-hourly.csv"))
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if lines[0] != "time,site1/boiler/temp (degC),site1/boiler/pressure (bar)" || len(lines) != 14 {
		t.Errorf("exported CSV: %d lines, header %q", len(lines), lines[0])
	} else if f := strings.Split(lines[7], ","); len(f) != 3 || f[1] == "" || f[2] == "" {
		t.Errorf("exported CSV row: %q", lines[7])
	}

	// The view is kept by the agent, and its export URL is shown without a token.
	if u := pa.value("#view-export-url"); u != a.url+"/api/v1/views/boiler-hourly/export?format=csv&token=TOKEN" {
		t.Errorf("export URL on the page: %q", u)
	}
	var saved struct {
		Streams  []struct{ Stream string }
		Interval string
	}
	if err := json.Unmarshal([]byte(a.call("GET", "/api/v1/views/boiler-hourly", "", "")), &saved); err != nil || saved.Interval != "5m" || len(saved.Streams) != 2 {
		t.Errorf("the view on the agent: %+v (%v)", saved, err)
	}

	// Audit: the log, its verification and the report.
	pa.click(`nav a[data-page="audit"]`)
	pa.waitFunc(`!!document.querySelector('#audit-unavailable, #audit-table')`)
	pa.waitVisible("#audit-log-table")
	pa.click("#audit-verify")
	pa.waitVisible("#audit-verify-report.ok")
	pa.shot(shots, "audit")

	// Signing out ends the session: sessionStorage is empty, the cookie
	// gone, and the agent refuses it.
	pa.click("#signout")
	pa.waitVisible("#signin-form")
	if pa.eval(`String(sessionStorage.length)`) != "0" {
		t.Error("sign-out left the CSRF token in sessionStorage")
	}
	pa.checkSession(a.url, false)
	// The form that comes first is the one this browser last signed in to
	// acme with: ivan's token, in the member's tab.
	pa.signInForm("token")
	pb.click("#signout")
	pb.waitVisible("#signin-form")
	pb.signInForm("token")
	if pb.eval(`String(sessionStorage.length)`) != "0" {
		t.Error("sign-out left the token in sessionStorage")
	}
	if code := pb.fetchStatus(b.url+"/api/v1/status", "GET", ""); code != 401 {
		t.Errorf("northwind after sign-out: %d, want 401", code)
	}
	br.checkErrors()
}

// checkSession checks the session cookie in the browser: there and
// HttpOnly (invisible to scripts), SameSite=Strict, GETs work and a POST
// without the CSRF header is refused; or, after sign-out, gone.
func (p *page) checkSession(base string, signedIn bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		p.fail("get cookies", err)
	}
	var c *network.Cookie
	for _, ck := range res.Cookies {
		if strings.HasPrefix(ck.Name, "sluice_session") {
			c = ck
		}
	}
	if !signedIn {
		if c != nil {
			p.t.Errorf("%s: session cookie left after sign-out", p.name)
		}
		return
	}
	switch {
	case c == nil:
		p.fail("session cookie", errors.New("no sluice_session cookie"))
	case !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" || c.Session:
		p.t.Errorf("%s: session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, Max-Age", p.name, c)
	}
	if strings.Contains(p.eval(`document.cookie`), "sluice_session") {
		p.t.Errorf("%s: the session cookie is visible to scripts", p.name)
	}
	if strings.Contains(p.eval(`JSON.stringify(sessionStorage)`), "slu_") {
		p.t.Errorf("%s: a token in sessionStorage", p.name)
	}
	if code := p.fetchStatus("api/v1/whoami", "GET", ""); code != 200 {
		p.t.Errorf("%s: GET with the cookie: %d", p.name, code)
	}
	if code := p.fetchStatus("api/v1/streams", "POST", ""); code != 403 {
		p.t.Errorf("%s: POST with the cookie and without the CSRF header: %d, want 403", p.name, code)
	}
	if code := p.fetchStatus("api/v1/streams", "POST", "not-the-token"); code != 403 {
		p.t.Errorf("%s: POST with a wrong CSRF header: %d, want 403", p.name, code)
	}
}

// fetchStatus fetches from the page with its cookies and returns the status.
func (p *page) fetchStatus(url, method, csrf string) int {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	init := fmt.Sprintf(`{method: %q, credentials: 'same-origin', headers: {}}`, method)
	if method != "GET" {
		init = fmt.Sprintf(`{method: %q, credentials: 'same-origin', headers: {'Content-Type': 'application/json'}, body: '{}'}`, method)
	}
	if csrf != "" {
		init = fmt.Sprintf(`{...%s, headers: {'Content-Type': 'application/json', 'X-CSRF-Token': %q}}`, init, csrf)
	}
	js := fmt.Sprintf(`fetch(%q, %s).then((r) => r.status)`, url, init)
	code, err := chromedp.Run(ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("fetch "+url, err)
	}
	return code
}

// stepUp answers the password dialog of an action that needs it.
func (p *page) stepUp(password string) {
	p.t.Helper()
	p.waitVisible("#stepup-password")
	p.fill("#stepup-password", password)
	p.click("#stepup-submit")
}

// Agents.

type agent struct {
	t     *testing.T
	url   string
	token string
	log   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func buildSluice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build sluice: %v\n%s", err, out)
	}
	return bin
}

var readyRE = regexp.MustCompile(`msg="agent ready" api=(\S+)`)

// startAgent runs `sluice agent` for a tenant with federation and gossip
// on free loopback ports, as the CLI's end-to-end tests do; extraYAML are
// more top-level keys of its config.
func startAgent(t *testing.T, bin, tenant string, extraYAML ...string) *agent {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "agent.yaml")
	// Port 0: the agent binds and advertises free ports itself.
	yaml := fmt.Sprintf("tenant: {name: %s}\nfederation: {listen: 127.0.0.1:0, gossip: 127.0.0.1:0, advertise: 127.0.0.1}\n", tenant)
	for _, y := range extraYAML {
		yaml += y + "\n"
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &agent{t: t, log: &syncBuffer{}}
	cmd := exec.Command(bin, "agent", "--config", cfg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLUICE_API_LISTEN=127.0.0.1:0", "SLUICE_DATA_DIR="+data)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(a.log, sc.Text())
			if m := readyRE.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("%s agent log:\n%s", tenant, a.log)
		}
	})
	select {
	case addr := <-ready:
		a.url = "http://" + addr
	case err := <-exited:
		t.Fatalf("%s: agent exited before ready: %v\n%s", tenant, err, a.log)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: agent not ready after 30s\n%s", tenant, a.log)
	}
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	a.token = strings.TrimSpace(string(tok))
	return a
}

func (a *agent) call(method, path, ctype, body string) string {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", ctype)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		a.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, out)
	}
	return string(out)
}

func (a *agent) createStream(name, unit, desc string, labels map[string]string) {
	b, _ := json.Marshal(map[string]any{"name": name, "unit": unit, "description": desc, "kind": "float", "labels": labels})
	a.call("POST", "/api/v1/streams", "application/json", string(b))
}

// labels are a stream's labels as the agent has them, "key=value" in key
// order, as the console shows them.
func (a *agent) labels(name string) []string {
	a.t.Helper()
	var st struct{ Labels map[string]string }
	if err := json.Unmarshal([]byte(a.call("GET", "/api/v1/streams/"+url.PathEscape(name), "", "")), &st); err != nil {
		a.t.Fatal(err)
	}
	var out []string
	for k, v := range st.Labels {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	if len(out) == 0 {
		a.t.Fatalf("stream %s has no labels", name)
	}
	return out
}

// storeStatus is the "store" object of GET /api/v1/status.
type storeStatus struct {
	DiskBytes int64  `json:"disk_bytes"`
	FreeBytes int64  `json:"free_bytes"`
	MaxSize   int64  `json:"max_size"`
	Retention int64  `json:"retention"`
	Measured  string `json:"measured"`
	Refused   string `json:"refused"`
	Rules     []struct {
		Rule    string `json:"rule"`
		MaxAge  int64  `json:"max_age"`
		Streams int    `json:"streams"`
	} `json:"rules"`
}

// checkStorePanel compares the status page's disk panel with the agent's
// status. It reports false, after a refresh, while the page shows another
// measurement than the status (the agent measures every minute); once
// both are of one measurement, every value must be the agent's.
func (a *agent) checkStorePanel(p *page) bool {
	a.t.Helper()
	var st struct{ Store storeStatus }
	if err := json.Unmarshal([]byte(a.call("GET", "/api/v1/status", "", "")), &st); err != nil {
		a.t.Fatal(err)
	}
	var shown struct {
		Measured        string
		Disk, Free, Max struct{ Bytes, Text string }
		Retention       string
		Rules           []struct{ Rule, Streams, Keeps string }
	}
	js := `(() => { const p = document.getElementById('store-panel'); if (!p) return '{}';
		const g = (id) => { const e = document.getElementById(id); return e ? {bytes: e.dataset.bytes, text: e.textContent} : {}; };
		return JSON.stringify({measured: p.dataset.measured, disk: g('store-disk'), free: g('store-free'), max: g('store-max-size'),
			retention: document.getElementById('store-retention').textContent,
			rules: [...document.querySelectorAll('#retention-table tbody tr')].map((r) => ({rule: r.dataset.rule, streams: r.cells[2].textContent, keeps: r.cells[3].textContent}))}); })()`
	if err := json.Unmarshal([]byte(p.eval(js)), &shown); err != nil {
		p.fail("read the disk panel", err)
	}
	if shown.Measured != st.Store.Measured {
		p.click("#status-refresh")
		return false
	}
	sp := st.Store
	maxText := "no bound"
	if sp.MaxSize > 0 {
		maxText = fmtBytes(sp.MaxSize)
	}
	for _, c := range []struct {
		what        string
		got, want   string
		gotB, wantB string
	}{
		{"disk use", shown.Disk.Text, fmtBytes(sp.DiskBytes), shown.Disk.Bytes, strconv.FormatInt(sp.DiskBytes, 10)},
		{"free space", shown.Free.Text, fmtBytes(sp.FreeBytes), shown.Free.Bytes, strconv.FormatInt(sp.FreeBytes, 10)},
		{"max_size", shown.Max.Text, maxText, shown.Max.Bytes, strconv.FormatInt(sp.MaxSize, 10)},
		{"retention", shown.Retention, days(sp.Retention, "forever"), "", ""},
	} {
		if c.got != c.want || c.gotB != c.wantB {
			a.t.Errorf("%s: the status page shows %s %q (%s bytes), the agent's status %q (%s bytes)", p.name, c.what, c.got, c.gotB, c.want, c.wantB)
		}
	}
	if len(shown.Rules) != len(sp.Rules) {
		a.t.Errorf("%s: the status page shows %d retention rules, the agent has %d: %+v", p.name, len(shown.Rules), len(sp.Rules), shown.Rules)
		return true
	}
	for i, r := range sp.Rules {
		want := struct{ Rule, Streams, Keeps string }{r.Rule, strconv.Itoa(r.Streams), days(r.MaxAge, "forever")}
		if shown.Rules[i] != want {
			a.t.Errorf("%s: retention rule %d on the page %+v, the agent's %+v", p.name, i, shown.Rules[i], want)
		}
	}
	return true
}

// fmtBytes writes bytes as the console does: binary units, one decimal
// rounded half up (JavaScript's toFixed of an exact quotient).
func fmtBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	i, unit := 0, int64(1)
	for n >= unit*1024 && i < len(units)-1 {
		unit *= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	tenths := (n*10 + unit/2) / unit
	return fmt.Sprintf("%d.%d %s", tenths/10, tenths%10, units[i])
}

// days writes a duration in nanoseconds of whole days as "7d".
func days(ns int64, none string) string {
	if ns == 0 {
		return none
	}
	d := time.Duration(ns)
	if d%(24*time.Hour) != 0 {
		return d.String()
	}
	return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
}

func (a *agent) write(csv string) {
	a.call("POST", "/api/v1/data", "text/csv", csv)
}

// series is bulk CSV of one stream: points every step over span, ending
// at end.
func series(name string, end time.Time, span, step time.Duration, f func(float64) float64) string {
	var b strings.Builder
	for ts := end.Add(-span); !ts.After(end); ts = ts.Add(step) {
		x := float64(ts.Unix())
		fmt.Fprintf(&b, "%s,%s,%.3f\n", name, ts.UTC().Format(time.RFC3339), f(x))
	}
	return b.String()
}

func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no download at %s", path)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Browser.

func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SLUICE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: run make deps (it installs Debian's chromium), or set SLUICE_CHROMIUM")
	return ""
}

type browserRun struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T, path string) *browserRun {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("hide-scrollbars", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return &browserRun{t: t, ctx: ctx}
}

// tab opens a tab that records the page's uncaught exceptions and
// console errors (the console logs CSP violations as errors).
func (b *browserRun) tab(name string) *page {
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatal(err)
	}
	exc := chromedp.Events(ctx, runtime.ExceptionThrown)
	logs := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	go func() {
		for ev, err := range exc {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			b.record(fmt.Sprintf("%s: exception at %s:%d: %s", name, d.URL, d.LineNumber+1, msg))
		}
	}()
	go func() {
		for ev, err := range logs {
			if err != nil {
				return
			}
			if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
				continue
			}
			var parts []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					parts = append(parts, string(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			b.record(fmt.Sprintf("%s: console.%s: %s", name, ev.Type, strings.Join(parts, " ")))
		}
	}()
	return &page{t: b.t, ctx: ctx, name: name}
}

func (b *browserRun) record(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, s)
}

func (b *browserRun) checkErrors() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errs {
		b.t.Errorf("in the page: %s", e)
	}
}

type page struct {
	t    *testing.T
	ctx  context.Context
	name string
}

func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fail(what, err)
	}
}

func (p *page) fail(what string, err error) {
	p.t.Helper()
	var body string
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	if s, e := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + "\n" + document.body.innerText`)); e == nil {
		body = s
	}
	if len(body) > 3000 {
		body = body[:3000] + "…"
	}
	p.t.Fatalf("%s: %s: %v\npage text:\n%s", p.name, what, err, body)
}

func (p *page) open(u string) { p.t.Helper(); p.do("open "+u, chromedp.Navigate(u)) }

func (p *page) waitVisible(sel string, opts ...chromedp.QueryOption) {
	p.t.Helper()
	p.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel), opts...))
}

func (p *page) click(sel string) {
	p.t.Helper()
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// fill replaces an input's text as typing would: focus, select all, then
// insert the text (one input event).
func (p *page) fill(sel, text string) {
	p.t.Helper()
	p.do("fill "+sel,
		chromedp.Focus(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](`document.activeElement.select ? document.activeElement.select() : null`),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if text == "" {
				_, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Delete", Code: "Delete", WindowsVirtualKeyCode: 46})
				if err == nil {
					_, err = chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: "Delete", Code: "Delete", WindowsVirtualKeyCode: 46})
				}
				return err
			}
			_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
			return err
		}))
}

// selectValue picks an option of a <select> as the keyboard would, which
// fires change.
func (p *page) selectValue(sel, value string) {
	p.t.Helper()
	js := fmt.Sprintf(`(() => { const s = document.querySelector(%q); if (![...s.options].some((o) => o.value === %q)) return false; s.value = %[2]q; s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, sel, value)
	if p.eval(js) != "true" {
		p.fail("select "+value+" in "+sel, errors.New("no such option"))
	}
}

func (p *page) value(sel string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		p.fail("value of "+sel, err)
	}
	return v
}

func (p *page) eval(js string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
	if err != nil {
		p.fail("evaluate "+js, err)
	}
	return fmt.Sprint(v)
}

// evalAsync evaluates an expression that gives a promise, and waits for
// its value.
func (p *page) evalAsync(js string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("evaluate "+js, err)
	}
	return fmt.Sprint(v)
}

// signInForm checks which of the sign-in forms shows: "token" or "user",
// the other one hidden.
func (p *page) signInForm(mode string) {
	p.t.Helper()
	got := p.eval(`(() => { const f = document.querySelector('#signin-form');
		return f.dataset.mode + ' ' + document.querySelector('#signin-user').hidden + ' ' + document.querySelector('#signin-token').hidden; })()`)
	want := map[string]string{"token": "token true false", "user": "user false true"}[mode]
	if got != want {
		p.t.Errorf("%s: sign-in form (mode, user hidden, token hidden) = %q, want %q", p.name, got, want)
	}
}

func (p *page) exists(sel string) bool {
	p.t.Helper()
	return p.eval(fmt.Sprintf(`!!document.querySelector(%q)`, sel)) == "true"
}

// waitFunc waits until a JavaScript expression is true.
func (p *page) waitFunc(js string) {
	p.t.Helper()
	p.do("wait until "+js, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(waitFor))(ctx, t)
		return err
	}))
}

// waitText waits until the element's text contains want.
func (p *page) waitText(sel, want string) {
	p.t.Helper()
	p.waitFunc(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want))
}

func (p *page) eventually(f func() bool, what string) {
	p.t.Helper()
	deadline := time.Now().Add(waitFor)
	for !f() {
		if time.Now().After(deadline) {
			p.fail("wait for "+what, context.DeadlineExceeded)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// drag presses the mouse at a fraction of an element's width, moves to
// another, and releases, as a user selecting a range does.
func (p *page) drag(sel string, from, to float64) {
	p.t.Helper()
	box := p.eval(fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return [r.left, r.top, r.width, r.height].join(','); })()`, sel))
	var x, y, w, h float64
	if _, err := fmt.Sscanf(strings.ReplaceAll(box, ",", " "), "%g %g %g %g", &x, &y, &w, &h); err != nil {
		p.fail("box of "+sel, err)
	}
	ev := func(typ input.DispatchMouseEventType, fx float64, buttons int64) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			prm := input.DispatchMouseEventParams{Type: typ, X: x + fx*w, Y: y + h/2, Button: input.MouseButtonLeft, Buttons: buttons, ClickCount: 1}
			_, err := chromedp.Call(ctx, input.DispatchMouseEvent, prm)
			return err
		})
	}
	steps := []chromedp.Action[chromedp.Void]{ev(input.DispatchMouseEventTypeMouseMoved, from, 0), ev(input.DispatchMouseEventTypeMousePressed, from, 1)}
	for i := 1; i <= 5; i++ {
		steps = append(steps, ev(input.DispatchMouseEventTypeMouseMoved, from+(to-from)*float64(i)/5, 1))
	}
	steps = append(steps, ev(input.DispatchMouseEventTypeMouseReleased, to, 0))
	p.do("drag across "+sel, steps...)
}

// shot saves a full-page PNG.
func (p *page) shot(dir, name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitFor)
	defer cancel()
	// Let charts and tables settle, and drop the pointer's hover.
	chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))`, chromedp.EvalAwaitPromise))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.fail("screenshot "+name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}
