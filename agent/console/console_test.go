package console

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIndex(t *testing.T) {
	res := get(t, "/")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("ETag") == "" {
		t.Fatalf("index caching: Cache-Control %q, ETag %q", res.Header.Get("Cache-Control"), res.Header.Get("ETag"))
	}
	html := body(t, res)
	if strings.Contains(html, staticPlaceholder) || !strings.Contains(html, `src="static/`+Build()+`/app.js"`) {
		t.Fatalf("index does not point at this build's assets:\n%s", html)
	}
	// Every asset the page names must be served.
	for _, m := range regexp.MustCompile(`(?:src|href)="(static/[^"]+)"`).FindAllStringSubmatch(html, -1) {
		if r := get(t, "/"+m[1]); r.StatusCode != 200 {
			t.Errorf("%s: %d", m[1], r.StatusCode)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	for _, p := range []string{"/", "/static/" + Build() + "/app.js", "/nope"} {
		res := get(t, p)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP allows unsafe sources: %q", p, csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: missing nosniff or frame denial", p)
		}
	}
}

// The CSP forbids inline scripts, inline styles and event-handler
// attributes, so the markup and the scripts must not use them.
func TestNoInlineCode(t *testing.T) {
	html := body(t, get(t, "/"))
	for _, m := range regexp.MustCompile(`(?is)<script\b[^>]*>(.*?)</script>`).FindAllStringSubmatch(html, -1) {
		if !strings.Contains(m[0], " src=") || strings.TrimSpace(m[1]) != "" {
			t.Errorf("inline script in index.html: %s", m[0])
		}
	}
	if regexp.MustCompile(`(?i)<style\b|\sstyle=|\son[a-z]+=|javascript:`).MatchString(html) {
		t.Error("index.html has inline styles, event-handler attributes or javascript: URLs")
	}
	err := fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") || strings.Contains(p, "/vendor/") {
			return err
		}
		b, _ := fs.ReadFile(embedded, p)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", "cdn", "http://", "https://"} {
			if bytes.Contains(b, []byte(bad)) {
				t.Errorf("%s uses %q", p, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestContentTypesAndCaching(t *testing.T) {
	b := Build()
	for path, ct := range map[string]string{
		"app.js":                   "text/javascript; charset=utf-8",
		"pages/trend.js":           "text/javascript; charset=utf-8",
		"style.css":                "text/css; charset=utf-8",
		"vendor/uPlot.iife.min.js": "text/javascript; charset=utf-8",
		"vendor/uPlot.min.css":     "text/css; charset=utf-8",
		"vendor/uPlot.LICENSE":     "application/octet-stream",
		"favicon.svg":              "image/svg+xml",
	} {
		res := get(t, "/static/"+b+"/"+path)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != ct {
			t.Errorf("%s: %d %q, want 200 %q", path, res.StatusCode, res.Header.Get("Content-Type"), ct)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("%s: Cache-Control %q", path, cc)
		}
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Errorf("%s: no ETag", path)
			continue
		}
		if r := get(t, "/static/"+b+"/"+path, "If-None-Match", etag); r.StatusCode != 304 {
			t.Errorf("%s: If-None-Match %s: %d, want 304", path, etag, r.StatusCode)
		}
	}
	// A page of an older build still gets the files, but not pinned.
	res := get(t, "/static/000000000000/app.js")
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("old build: %d %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
}

func TestGzip(t *testing.T) {
	p := "/static/" + Build() + "/vendor/uPlot.iife.min.js"
	plain := get(t, p)
	want := body(t, plain)
	res := get(t, p, "Accept-Encoding", "br, gzip")
	if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Fatalf("gzip: encoding %q, etag %q vs %q", res.Header.Get("Content-Encoding"), res.Header.Get("ETag"), plain.Header.Get("ETag"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if string(got) != want {
		t.Fatal("gzip body differs from the plain one")
	}
	if r := get(t, p, "Accept-Encoding", "gzip;q=0"); r.Header.Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 got gzip")
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	for _, p := range []string{"/nope", "/static/", "/static/" + Build() + "/nope.js", "/static/" + Build() + "/../console.go"} {
		if res := get(t, p); res.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader("x")))
	if rec.Code != 405 || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	rec = httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("HEAD", "/", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD /: %d with %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestVendoredLicence(t *testing.T) {
	lic := body(t, get(t, "/static/"+Build()+"/vendor/uPlot.LICENSE"))
	js := body(t, get(t, "/static/"+Build()+"/vendor/uPlot.iife.min.js"))
	if !strings.Contains(lic, "MIT License") || !strings.Contains(js, "uPlot") {
		t.Fatal("uPlot or its licence is missing")
	}
}
