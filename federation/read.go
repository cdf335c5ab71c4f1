package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sluice-edge/sluice/policy"
)

// PartnerRead is a read of another tenant's shared stream, as a local user
// asks it of this agent: the owner's agent answers it (or not) with its
// own state. Times are already resolved (Unix ns).
type PartnerRead struct {
	Community policy.CommunityID // "" for a read over a connection to Owner
	Owner     policy.TenantID
	// User and Roles name the local user and its roles in the community
	// ("" and 0 if unknown): vouched to the owner, which checks the roles
	// with policy and names the user in its audit log.
	User  string
	Roles policy.RoleSet
	ReadQuery
}

// Answer is the owner's answer to a PartnerRead, streamed. Read its Body
// to the end, then Close it: Close writes the reader's side of the audit
// with the owner's own point count.
type Answer struct {
	ContentType string
	Body        io.Reader
	resp        *http.Response
	done        func(points int, err error)
	closed      bool
}

// StatusCode is the owner's HTTP status (200, or 206-like codes a
// later protocol may add); denials never reach an Answer.
func (a *Answer) StatusCode() int { return a.resp.StatusCode }

// TrailerNames are the trailers the owner announced, to be announced
// again by whoever relays the answer.
func (a *Answer) TrailerNames() []string { return a.resp.Header.Values("Trailer") }

// Trailer is the owner's trailer (the next page token, the point count),
// complete once Body has been read to the end.
func (a *Answer) Trailer() http.Header { return a.resp.Trailer }

// Points is the owner's count of the points the answer covered (for
// summaries, the points summarised), once Body has been read to the end;
// 0 from an owner too old to say.
func (a *Answer) Points() int {
	p, _ := strconv.Atoi(a.resp.Trailer.Get(PointsTrailer))
	return p
}

// Close ends the answer; broken reports whether it was cut short (the
// caller could not pass it all on, or the owner's answer broke off).
func (a *Answer) Close(broken error) error {
	if a.closed {
		return nil
	}
	a.closed = true
	err := a.resp.Body.Close()
	if broken != nil {
		a.done(0, fmt.Errorf("the owner's answer broke off: %w", broken))
		return nil
	}
	a.done(a.Points(), nil)
	return err
}

// Read asks the stream owner's agent for a read of one of its shared
// streams and returns its answer. A denial by the owner is a *PeerError
// with the policy reason. A tenant that left or was removed is refused
// here first: it left by its own record, and need not wait for the owner
// to hear of it.
func (n *Node) Read(ctx context.Context, rq PartnerRead) (*Answer, error) {
	kindName := ReadPath(rq.Kind)
	audit := func(points int, err error) {
		n.auditRead(ctx, rq.Owner, rq.Community, rq.Stream, kindName, rq.Start, rq.End, points, err)
	}
	fail := func(err error) (*Answer, error) {
		audit(0, err)
		return nil, err
	}
	if rq.Owner == n.self {
		return nil, deny(400, "bad_request", "this is your own stream; read it with `sluice stream read`")
	}
	if rq.Community != "" {
		if s := n.book.snapshot().MemberStatus(rq.Community, n.self); s == policy.MemberLeft || s == policy.MemberRemoved {
			return fail(&PeerError{Status: 403, Reason: s.String(), Message: "denied: " + s.String()})
		}
	}
	q := url.Values{}
	set := func(k string, v int64, always bool) {
		if v != 0 || always {
			q.Set(k, strconv.FormatInt(v, 10))
		}
	}
	if rq.Kind != policy.ReadLatest { // the newest point the owner allows
		set("start", rq.Start, true)
		set("end", rq.End, true)
	}
	set("interval", int64(rq.Interval), false)
	set("offset", int64(rq.Offset), false)
	set("count", int64(rq.Count), false)
	set("limit", int64(rq.Limit), false)
	for k, v := range map[string]string{"page_token": rq.PageToken, "format": rq.Format, "time": rq.TimeFormat, "align": rq.Align} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if rq.User != "" {
		q.Set("user", rq.User)
		q.Set("roles", strconv.Itoa(int(rq.Roles)))
	}
	kind := ReadPath(rq.Kind)
	if kind == "" {
		return nil, deny(400, "bad_request", "unknown read %s", rq.Kind)
	}
	var resp *http.Response
	var err error
	if rq.Community == "" {
		resp, err = n.call(ctx, rq.Owner, "", "GET", "/fed/v1/cread/"+url.PathEscape(rq.Stream)+"/"+kind, q, nil)
	} else {
		path := "/fed/v1/read/" + url.PathEscape(string(rq.Community)) + "/" + url.PathEscape(rq.Stream) + "/" + kind
		resp, err = n.callMember(ctx, rq.Community, rq.Owner, "GET", path, q)
	}
	if err != nil {
		return fail(err)
	}
	return &Answer{ContentType: resp.Header.Get("Content-Type"), Body: resp.Body, resp: resp, done: audit}, nil
}

// readPaths are the read kinds as the paths of the partner protocol and
// of the local API spell them (.../{stream}/data, /latest, ...).
var readPaths = [...]string{policy.ReadWindow: "data", policy.ReadLatest: "latest",
	policy.ReadInterpolated: "interpolated", policy.ReadSummaries: "summaries"}

// ReadPath is the path segment of a data read kind; "" for any other.
func ReadPath(k policy.ReadKind) string {
	if int(k) < len(readPaths) {
		return readPaths[k]
	}
	return ""
}

// ParseReadPath is the data read kind a path segment names.
func ParseReadPath(s string) (policy.ReadKind, bool) {
	for k, p := range readPaths {
		if p != "" && p == s {
			return policy.ReadKind(k), true
		}
	}
	return 0, false
}

// ErrorStatus says how the local API answers an error of this package:
// the HTTP status, a reason for scripts and metrics, and when to retry
// (a Retry-After value, or ""). ok is false for errors of no status of
// ours (a failure, answered 502 since a partner was involved).
func ErrorStatus(err error) (status int, reason, retry string, ok bool) {
	var fe *fedErr
	var pe *PeerError
	switch {
	case errors.As(err, &fe):
		return fe.code, fe.reason, "", true
	case errors.As(err, &pe):
		return pe.Status, pe.Reason, pe.Retry, true
	}
	return http.StatusBadGateway, "", "", false
}

// auditRead records a read on the reader's side.
func (n *Node) auditRead(ctx context.Context, owner policy.TenantID, c policy.CommunityID, stream, kind string, start, end int64, points int, err error) {
	ev := AuditEvent{Kind: "partner_read", Side: "reader", Tenant: owner, Community: c, Connection: c == "",
		Stream: stream, Read: kind, Start: start, End: end, Points: points, Outcome: "allowed"}
	var pe *PeerError
	switch {
	case errors.As(err, &pe) && pe.Status == http.StatusForbidden:
		ev.Kind, ev.Outcome, ev.Reason = "read_denied", "denied", pe.Reason
	case err != nil:
		ev.Outcome, ev.Reason = "error", err.Error()
	}
	n.audit(ctx, ev)
}
