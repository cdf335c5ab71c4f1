package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to an agent's API. The CLI and the end-to-end tests use it.
type Client struct {
	Base  string // e.g. http://127.0.0.1:7080
	Token string
	HTTP  *http.Client
	// StepUp, when set, is asked for the user's password when the agent
	// wants it again for a sensitive action (403, reason
	// step_up_required); the request is then sent once more with it.
	StepUp func() (string, error)
}

// StepUpHeader carries the password of a step-up.
const StepUpHeader = "X-Sluice-Password"

// Error is an API error answer.
type Error struct {
	Status  int
	Message string
	// Reason is the machine-readable reason the agent gave beside the
	// message, if any: a denied partner read says why ("paused",
	// "not_member", "not_shared", ...).
	Reason string
}

// Error reads "message: reason (HTTP status)"; the reason is left out
// when there is none or the message already says it.
func (e *Error) Error() string {
	msg := e.Message
	switch {
	case e.Reason == "" || strings.Contains(msg, e.Reason):
	case msg == "":
		msg = e.Reason
	default:
		msg += ": " + e.Reason
	}
	return fmt.Sprintf("%s (HTTP %d)", msg, e.Status)
}

// StreamPath is the escaped API path of a stream: names contain slashes,
// which travel as %2F inside one path segment.
func StreamPath(name string, suffix string) string {
	p := "/api/v1/streams/" + url.PathEscape(name)
	if suffix != "" {
		p += "/" + suffix
	}
	return p
}

// Do sends a request and returns the response for the caller to read and
// close; an error status becomes an *Error.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader) (*http.Response, error) {
	resp, err := c.do(ctx, method, path, q, contentType, body, "")
	var e *Error
	if c.StepUp == nil || !errors.As(err, &e) || e.Status != http.StatusForbidden || e.Reason != "step_up_required" {
		return resp, err
	}
	if sk, ok := body.(io.Seeker); ok {
		if _, err := sk.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
	} else if body != nil {
		return nil, err // cannot send it again
	}
	pw, perr := c.StepUp()
	if perr != nil {
		return nil, perr
	}
	return c.do(ctx, method, path, q, contentType, body, pw)
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader, password string) (*http.Response, error) {
	u := strings.TrimRight(c.Base, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if password != "" {
		req.Header.Set(StepUpHeader, password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the agent at %s: %w", c.Base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct {
			Error  string `json:"error"`
			Reason string `json:"reason"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && (e.Error != "" || e.Reason != "") {
			msg = e.Error
		} else {
			e.Reason = ""
		}
		return nil, &Error{Status: resp.StatusCode, Message: msg, Reason: e.Reason}
	}
	return resp, nil
}

// JSON sends a request with an optional JSON body and decodes a JSON answer
// into out (if not nil).
func (c *Client) JSON(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	resp, err := c.Do(ctx, method, path, q, ct, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}
