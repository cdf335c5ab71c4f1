package webapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/connectors/pi/internal/pitime"
	"github.com/sluice-edge/sluice/connectors/point"
)

// PI Web API client: the few calls the reader makes and the JSON shapes
// of their answers, as PI Web API's reference documents them.

// maxResponseBytes bounds one response (150,000 values are about 20 MB).
const maxResponseBytes = 256 << 20

type webClient struct {
	base    *url.URL
	http    *http.Client
	auth    string // Authorization header value, or empty
	timeout time.Duration
}

// apiError is a non-2xx answer.
type apiError struct {
	Status int
	Errors []string
	URL    string
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("PI Web API answered %d %s", e.Status, http.StatusText(e.Status))
	if len(e.Errors) > 0 {
		msg += ": " + strings.Join(e.Errors, "; ")
	}
	return msg + " (" + e.URL + ")"
}

// newWebClient builds the client; it reads the CA file and resolves the
// secrets, so it is called from Run.
func newWebClient(cfg *Config, base *url.URL, dataDir string) (*webClient, error) {
	c := &webClient{base: base, timeout: cfg.RequestTimeout.Std()}
	switch {
	case cfg.Token != "":
		tok, err := configs.Secret(cfg.Token)
		if err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
		c.auth = "Bearer " + tok
	case cfg.Username != "":
		pw, err := configs.Secret(cfg.Password)
		if err != nil {
			return nil, fmt.Errorf("password: %w", err)
		}
		c.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+pw))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 4
	if base.Scheme == "https" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLS.ServerName, InsecureSkipVerify: cfg.TLS.InsecureSkipVerify}
		if cfg.TLS.CA != "" {
			path := cfg.TLS.CA
			if !filepath.IsAbs(path) && dataDir != "" {
				path = filepath.Join(dataDir, path)
			}
			pem, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("tls.ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls.ca: %s holds no PEM certificate", path)
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	c.http = &http.Client{Transport: tr}
	return c, nil
}

func (c *webClient) close() { c.http.CloseIdleConnections() }

// call sends one request and decodes a 2xx answer into out.
func (c *webClient) call(ctx context.Context, method, path string, q url.Values, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	// PI Web API rejects writes (POST, PUT, PATCH, DELETE) without this
	// header, its defence against cross-site request forgery. Registering
	// for stream updates is a POST.
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxResponseBytes+1)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var e struct{ Errors []string }
		b, _ := io.ReadAll(io.LimitReader(body, 1<<20))
		json.Unmarshal(b, &e)
		if len(e.Errors) == 0 && len(b) > 0 && len(b) < 512 && !bytes.ContainsAny(b, "<{") {
			e.Errors = []string{strings.TrimSpace(string(b))}
		}
		return &apiError{Status: resp.StatusCode, Errors: e.Errors, URL: u.Path}
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(body)
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("decoding the answer of %s: %w", u.Path, err)
	}
	return nil
}

// The JSON shapes.

// webException is PI Web API's report of an error while it was writing a
// response that had already started with a 2xx status.
type webException struct {
	StatusCode int
	Errors     []string
}

type itemError struct {
	Errors []string
}

// piPoint is GET points?path=.
type piPoint struct {
	WebID            string `json:"WebId"`
	Name             string
	Path             string
	Descriptor       string
	PointType        string
	EngineeringUnits string
	Errors           []string
	WebException     *webException
}

// afAttribute is GET attributes?path=.
type afAttribute struct {
	WebID                        string `json:"WebId"`
	Name                         string
	Path                         string
	Description                  string
	Type                         string
	DefaultUnitsName             string
	DefaultUnitsNameAbbreviation string
	Errors                       []string
	WebException                 *webException
}

// timedValue is one value of a stream.
type timedValue struct {
	Timestamp    string
	Value        json.RawMessage
	Good         *bool
	Questionable bool
	Substituted  bool
	Annotated    bool
	Errors       []string
	// Updates only.
	Action string
}

// recordedItems is GET streamsets/recorded.
type recordedItems struct {
	Items        []recordedItem
	Errors       []string
	WebException *webException
}

type recordedItem struct {
	WebID        string `json:"WebId"`
	Name         string
	Path         string
	Items        []timedValue
	Errors       []string
	Exception    *itemError
	WebException *webException
}

// updateItems is POST and GET streamsets/updates.
type updateItems struct {
	Items        []updateItem
	Errors       []string
	WebException *webException
}

type updateItem struct {
	Source          string
	SourceName      string
	SourcePath      string
	Status          string
	RequestedMarker string
	LatestMarker    string
	Events          []timedValue
	Exception       *itemError
	Errors          []string
	WebException    *webException
}

// failure reports an error inside a 2xx answer, or "".
func failure(errs []string, we *webException, ex *itemError) string {
	var all []string
	all = append(all, errs...)
	if we != nil {
		all = append(all, we.Errors...)
		if len(we.Errors) == 0 {
			all = append(all, fmt.Sprintf("web exception %d", we.StatusCode))
		}
	}
	if ex != nil {
		all = append(all, ex.Errors...)
		if len(ex.Errors) == 0 {
			all = append(all, "exception")
		}
	}
	return strings.Join(all, "; ")
}

// pointKind maps a PI point type to a stream kind (0: unsupported).
func pointKind(t string) point.Kind {
	switch strings.ToLower(t) {
	case "float16", "float32", "float64":
		return point.KindFloat
	case "int16", "int32":
		return point.KindInt
	case "digital", "string", "timestamp":
		return point.KindString
	}
	return 0
}

// attributeKind maps an AF attribute value type to a stream kind.
func attributeKind(t string) point.Kind {
	switch strings.ToLower(t) {
	case "double", "single", "float":
		return point.KindFloat
	case "byte", "sbyte", "int16", "int32", "int64", "uint16", "uint32":
		return point.KindInt
	case "boolean":
		return point.KindBool
	case "string", "guid", "datetime", "enumerationvalue":
		return point.KindString
	case "", "anything", "uint64":
		return point.KindFloat // converted per value; what does not convert is dropped
	}
	return 0 // arrays, blobs, unsupported
}

// OPC UA's Uncertain_SubstituteValue: PI's "Substituted" (an edited value).
const qualitySubstituted point.Quality = 0x40910000

// decodeValue converts a timed value to a value of kind k and a quality.
// ok is false for a value that cannot be stored (dropped and counted):
// a good value of another type, null, an array.
func decodeValue(tv *timedValue, k point.Kind) (v point.Value, q point.Quality, ok bool) {
	good := tv.Good == nil || *tv.Good
	switch {
	case !good:
		q = point.QualityBad
	case tv.Questionable:
		q = point.QualityUncertain
	case tv.Substituted:
		q = qualitySubstituted
	}
	raw := bytes.TrimSpace(tv.Value)
	var got point.Value
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return v, q, false
	case raw[0] == '{':
		// A digital state or enumeration value {"Name","Value","IsSystem"},
		// or an error {"Errors": [...]}.
		var st struct {
			Name     string
			Value    json.RawMessage
			IsSystem bool
			Errors   []string
		}
		if json.Unmarshal(raw, &st) != nil {
			return v, q, false
		}
		if len(st.Errors) > 0 {
			return badValue(k, strings.Join(st.Errors, "; ")), point.QualityBad, true
		}
		if k == point.KindString {
			if st.IsSystem && good {
				q = point.QualityBad // a system state ("I/O Timeout") is no measurement
			}
			return point.String(st.Name), q, true
		}
		if st.IsSystem || !good {
			return badValue(k, st.Name), point.QualityBad, true
		}
		var n float64
		if json.Unmarshal(st.Value, &n) != nil {
			return v, q, false
		}
		got = point.Float(n)
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return v, q, false
		}
		got = point.String(s)
	case raw[0] == 't' || raw[0] == 'f':
		got = point.Bool(raw[0] == 't')
	case raw[0] == '[':
		return v, q, false
	default:
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return v, q, false
		}
		if i, err := n.Int64(); err == nil && k == point.KindInt {
			got = point.Int(i)
		} else if f, err := n.Float64(); err == nil {
			got = point.Float(f)
		} else {
			return v, q, false
		}
	}
	cv, err := got.Convert(k)
	if err != nil || cv.Kind == point.KindFloat && (math.IsNaN(cv.F) || math.IsInf(cv.F, 0)) {
		if !good {
			return badValue(k, got.Text()), point.QualityBad, true
		}
		return v, q, false
	}
	return cv, q, true
}

// badValue stands for a bad value in a stream of kind k: the state's text
// in a string stream, else zero (bad points are left out of summaries).
func badValue(k point.Kind, text string) point.Value {
	if k == point.KindString {
		return point.String(text)
	}
	return point.Value{Kind: k}
}

var errNoTimestamp = errors.New("no timestamp")

func valueTime(tv *timedValue) (int64, error) {
	if tv.Timestamp == "" {
		return 0, errNoTimestamp
	}
	return pitime.Parse(tv.Timestamp)
}
