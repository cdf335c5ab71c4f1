// Package console serves the agent's web console: plain JavaScript modules,
// a stylesheet and a vendored chart library (uPlot), embedded in the
// binary so the console works offline on a plant gateway with no CDN.
//
// The console is a client of the same /api/v1 routes as the CLI; it has no
// API of its own and serves no secrets, so its assets need no
// authentication. The agent mounts Handler at "/" on its API listener.
//
// URLs:
//
//	/                       index.html (Cache-Control: no-cache, ETag)
//	/static/<build>/<file>  an asset; <build> is a hash of all assets, so
//	                        these are cached for a year (immutable); an
//	                        old <build> still gets the current file, with
//	                        no-cache
//
// Every answer carries a strict Content-Security-Policy: scripts, styles
// and connections from this origin only, no inline scripts or styles, no
// framing.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var embedded embed.FS

// CSP is the Content-Security-Policy of every console answer. The console
// sets styles only through the CSSOM (element.style), which style-src
// does not restrict, and talks only to its own agent.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; " +
	"form-action 'none'; frame-ancestors 'none'"

// contentTypes are set explicitly, not taken from the host's mime.types.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".txt":  "text/plain; charset=utf-8",
	".png":  "image/png",
}

// staticPlaceholder in index.html is replaced by "static/<build>".
const staticPlaceholder = "{{STATIC}}"

type asset struct {
	body, gz []byte // gz is nil when compression does not pay
	ctype    string
	etag     string
}

type handler struct {
	build  string
	index  *asset
	assets map[string]*asset // by path under assets/, e.g. "pages/trend.js"
}

var (
	once   sync.Once
	shared *handler
)

// Handler serves the console. It is safe for concurrent use; the assets
// are read and hashed once.
func Handler() http.Handler {
	once.Do(func() {
		h, err := load(embedded)
		if err != nil {
			panic("console: embedded assets: " + err.Error()) // a build defect
		}
		shared = h
	})
	return shared
}

// Build is the hash that names this build's assets under /static/.
func Build() string { Handler(); return shared.build }

func load(fsys fs.FS) (*handler, error) {
	h := &handler{assets: map[string]*asset{}}
	sum := sha256.New()
	var names []string
	err := fs.WalkDir(fsys, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var indexSrc []byte
	for _, p := range names {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		rel := strings.TrimPrefix(p, "assets/")
		sum.Write([]byte(rel + "\x00"))
		sum.Write(b)
		sum.Write([]byte{0})
		if rel == "index.html" {
			indexSrc = b
			continue
		}
		h.assets[rel] = newAsset(rel, b)
	}
	if indexSrc == nil {
		return nil, fs.ErrNotExist
	}
	h.build = hex.EncodeToString(sum.Sum(nil))[:12]
	h.index = newAsset("index.html", bytes.ReplaceAll(indexSrc, []byte(staticPlaceholder), []byte("static/"+h.build)))
	return h, nil
}

func newAsset(name string, b []byte) *asset {
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = "application/octet-stream"
	}
	s := sha256.Sum256(b)
	a := &asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(s[:8]) + `"`}
	if strings.HasPrefix(ct, "text/") || ct == "image/svg+xml" {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		if buf.Len() < len(b)*9/10 {
			a.gz = buf.Bytes()
		}
	}
	return a
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/" || p == "/index.html":
		h.serve(w, r, h.index, "no-cache")
		return
	case strings.HasPrefix(p, "/static/"):
		build, rel, ok := strings.Cut(strings.TrimPrefix(p, "/static/"), "/")
		if a := h.assets[rel]; ok && a != nil {
			cc := "public, max-age=31536000, immutable"
			if build != h.build {
				cc = "no-cache" // a page from an older build: serve, but do not pin
			}
			h.serve(w, r, a, cc)
			return
		}
	}
	http.Error(w, "404 page not found (the console lives at /)", http.StatusNotFound)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, a *asset, cacheControl string) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", cacheControl)
	body, etag := a.body, a.etag
	if a.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = a.gz, a.etag[:len(a.etag)-1]+`-gz"`
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	// ServeContent answers If-None-Match with 304, HEAD and ranges.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(v string) bool {
	for _, part := range strings.Split(v, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
