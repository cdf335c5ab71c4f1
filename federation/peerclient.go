package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// client returns an HTTPS client that only talks to the given tenant; one
// per partner, so connections are reused.
func (n *Node) client(peer policy.TenantID) (*http.Client, error) {
	if c, ok := n.clients.Load(peer); ok {
		return c.(*http.Client), nil
	}
	cfg, err := n.id.ClientConfig(string(peer))
	if err != nil {
		return nil, err
	}
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     cfg,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
	}}
	n.clients.Store(peer, c)
	return c, nil
}

// call sends a request to a tenant's agent at its known address (or the
// given one) and returns the response for the caller to close.
func (n *Node) call(ctx context.Context, peer policy.TenantID, addr, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	if addr == "" {
		info, _ := n.local.tenant(peer)
		addr = info.Fed
	}
	if addr == "" {
		return nil, fmt.Errorf("no known address for tenant %s", identity.ShortID(string(peer)))
	}
	c, err := n.client(peer)
	if err != nil {
		return nil, err
	}
	u := "https://" + addr + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tenant %s at %s: %w", identity.ShortID(string(peer)), addr, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct {
			Error  string `json:"error"`
			Reason string `json:"reason"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = string(bytes.TrimSpace(b))
		}
		return nil, &PeerError{Status: resp.StatusCode, Message: e.Error, Reason: e.Reason, Retry: resp.Header.Get("Retry-After")}
	}
	return resp, nil
}

// PeerError is an error answer of a partner's agent.
type PeerError struct {
	Status  int
	Message string
	Reason  string
	Retry   string
}

func (e *PeerError) Error() string { return e.Message }

func (n *Node) postJSON(ctx context.Context, peer policy.TenantID, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := n.call(ctx, peer, "", "POST", path, nil, bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
