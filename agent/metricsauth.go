package agent

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/sluice-edge/sluice/agent/internal/durable"
)

// MetricsTokenFile is the file in the data dir that holds the bearer
// token of /metrics when the config sets metrics.auth: token.
//
// It is a token of its own rather than a user's API token: it opens
// /metrics and nothing else, so the Prometheus server holding it can read
// no data, and it never expires, so scrapes do not break one day. An
// operator copies it to Prometheus' credentials_file; to rotate it, write
// a new token into the file (read at every scrape, so no restart) or
// delete the file and restart for a new random one.
const MetricsTokenFile = "metrics.token"

// minMetricsToken is the shortest token accepted from the file.
const minMetricsToken = 16

// metricsToken checks /metrics requests against the token in its file.
type metricsToken struct {
	path   string
	log    *slog.Logger
	warned atomic.Bool // a bad file was logged; reset once it reads well
}

// ensureMetricsToken makes sure path holds a usable token, writing a new
// random one (mode 0600) if the file is missing or blank.
func ensureMetricsToken(path string, log *slog.Logger) (*metricsToken, error) {
	m := &metricsToken{path: path, log: log}
	tok, err := m.read()
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && tok == "":
		if err := writeMetricsToken(path); err != nil {
			return nil, fmt.Errorf("metrics token: %w", err)
		}
		log.Info("wrote a new metrics token; give Prometheus a copy (authorization: credentials_file)", "file", path)
	case err != nil:
		return nil, fmt.Errorf("metrics token: %w", err)
	case len(tok) < minMetricsToken:
		return nil, fmt.Errorf("metrics token: %s holds %d characters, fewer than %d; write a longer token or delete the file to get a new one",
			path, len(tok), minMetricsToken)
	}
	return m, nil
}

// read returns the file's content without surrounding white space.
func (m *metricsToken) read() (string, error) {
	b, err := os.ReadFile(m.path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// allow reports whether r carries exactly one "Authorization: Bearer
// <token>" header with the file's current token. An unreadable or too
// short file lets nobody in and is logged once.
func (m *metricsToken) allow(r *http.Request) bool {
	hs := r.Header.Values("Authorization")
	if len(hs) != 1 {
		return false
	}
	scheme, got, ok := strings.Cut(hs[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	want, err := m.read()
	if err == nil && len(want) < minMetricsToken {
		err = fmt.Errorf("holds fewer than %d characters", minMetricsToken)
	}
	if err != nil {
		if !m.warned.Swap(true) {
			m.log.Warn("metrics token file unusable; /metrics refuses every scrape until it is fixed", "file", m.path, "err", err)
		}
		return false
	}
	m.warned.Store(false)
	// Hashes of equal length: the comparison tells nothing of the length.
	g, w := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// writeMetricsToken writes a new token, 32 random bytes in base64url, to
// path (0600).
func writeMetricsToken(path string) error {
	b := make([]byte, 32)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b) + "\n"
	// Called for a missing or blank file: a blank one goes first.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return durable.CreateFile(path, []byte(tok))
}
