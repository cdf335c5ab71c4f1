package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// The partner protocol: HTTPS with mutual TLS between agents. The peer's
// tenant is the fingerprint of the CA in its verified chain; no header or
// body field ever says who the caller is.

// acceptRequest is what an invitee's agent hands the owner's agent.
type acceptRequest struct {
	Envelope Envelope `json:"envelope"` // invitation.accepted or .declined
	Secret   string   `json:"secret"`   // the token's secret, which proves the caller was sent it
	Name     string   `json:"name"`
	Fed      string   `json:"fed"`
	Gossip   string   `json:"gossip"`
}

// welcome is what the owner's agent hands a member at confirmation.
type welcome struct {
	Community policy.CommunityID             `json:"community"`
	Records   []Envelope                     `json:"records"`
	Key       []byte                         `json:"key"`
	Tenants   map[policy.TenantID]tenantInfo `json:"tenants"`
}

func (n *Node) partnerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /fed/v1/accept", n.peer(n.handleAccept))
	mux.HandleFunc("POST /fed/v1/records", n.peer(n.handleRecords))
	mux.HandleFunc("POST /fed/v1/welcome", n.peer(n.handleWelcome))
	mux.HandleFunc("POST /fed/v1/key", n.peer(n.handleKey))
	mux.HandleFunc("POST /fed/v1/keys", n.peer(n.handleKeys))
	mux.HandleFunc("GET /fed/v1/catalog/{c}", n.peer(n.handleCatalog))
	mux.HandleFunc("GET /fed/v1/read/{c}/{stream}/{kind}", n.peer(n.handleRead))
	mux.HandleFunc("POST /fed/v1/connect", n.peer(n.handleConnect))
	mux.HandleFunc("GET /fed/v1/ccatalog", n.peer(n.handleConnectionCatalog))
	mux.HandleFunc("GET /fed/v1/cread/{stream}/{kind}", n.peer(n.handleRead)) // over a connection: no {c}
	return mux
}

// peer resolves the caller's tenant from its verified certificate chain.
func (n *Node) peer(h func(w http.ResponseWriter, r *http.Request, peer policy.TenantID) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := n.id.PeerTenant(r.TLS)
		if err != nil {
			fedError(w, http.StatusForbidden, "no verified tenant certificate: "+err.Error(), "")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<20)
		tw := &trackingWriter{ResponseWriter: w}
		w = tw
		if err := h(w, r, policy.TenantID(id)); err != nil {
			if tw.wrote {
				// Part of an answer is out: cut it so the partner sees a
				// broken transfer, never an error appended to data.
				n.log.Error("partner answer cut short", "path", r.URL.Path, "peer", id, "err", err)
				panic(http.ErrAbortHandler)
			}
			var fe *fedErr
			var se *StatusError
			if errors.As(err, &fe) {
				fedError(w, fe.code, fe.msg, fe.reason)
				return
			}
			if errors.As(err, &se) && se.Code < 500 {
				fedError(w, se.Code, se.Err.Error(), "")
				return
			}
			n.log.Error("partner request failed", "path", r.URL.Path, "peer", id, "err", err)
			fedError(w, http.StatusInternalServerError, err.Error(), "")
		}
	}
}

// trackingWriter notes whether a response has started.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// PointsTrailer is the HTTP trailer in which the owner tells the reader how
// many points an answer covered (for summaries, the points summarised), so
// that both sides' audit logs record the same count.
const PointsTrailer = "Sluice-Points"

// StatusError lets a Reader say which HTTP status an error deserves
// (a stream that does not exist is a 404, not a failure).
type StatusError struct {
	Code int
	Err  error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

type fedErr struct {
	code   int
	msg    string
	reason string
}

func (e *fedErr) Error() string { return e.msg }

func deny(code int, reason, format string, a ...any) error {
	return &fedErr{code: code, reason: reason, msg: fmt.Sprintf(format, a...)}
}

func fedError(w http.ResponseWriter, code int, msg, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg, "reason": reason})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// handleAccept: an invitee hands over its signed acceptance (or decline).
// This is the only path on which the owner takes an answer to an
// invitation, and it judges it on its own clock: the invitation must be
// pending (single use), not expired or revoked, the answer's time close to
// the owner's clock, and the caller must hold the token's secret, which
// gossip never carries.
func (n *Node) handleAccept(w http.ResponseWriter, r *http.Request, peer policy.TenantID) error {
	var req acceptRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		n.m.records.WithLabelValues("rejected_malformed").Inc()
		return deny(400, "malformed", "body: %v", err)
	}
	rec, err := policy.ParseRecord(req.Envelope.Record)
	if err != nil {
		n.m.records.WithLabelValues("rejected_malformed").Inc()
		return deny(400, "malformed", "acceptance: %v", err)
	}
	switch {
	case rec.Issuer != peer:
		n.m.records.WithLabelValues("rejected_authority").Inc()
		return deny(403, "issuer_mismatch", "the acceptance is signed by %s but your certificate is %s", identity.ShortID(string(rec.Issuer)), identity.ShortID(string(peer)))
	case rec.Kind != policy.KindInvitationAccepted && rec.Kind != policy.KindInvitationDeclined:
		n.m.records.WithLabelValues("rejected_malformed").Inc()
		return deny(400, "malformed", "expected an acceptance or a decline, got %s", rec.Kind)
	case rec.Community.Owner() != n.self:
		n.m.records.WithLabelValues("rejected_standing").Inc()
		return deny(404, "not_owner", "community %s is not this tenant's", rec.Community)
	}
	now := n.opts.Now()
	inv, ok := findInvitation(n.book.snapshot(), rec.Community, rec.Invitation, now.UnixNano())
	reject := func(code int, reason, format string, a ...any) error {
		n.m.records.WithLabelValues("rejected_" + reason).Inc()
		n.audit(r.Context(), AuditEvent{Kind: "record_rejected", Side: "owner", Actor: "accept from " + identity.ShortID(string(peer)),
			Tenant: peer, Community: rec.Community, Outcome: "denied", Reason: reason})
		return deny(code, reason, format, a...)
	}
	switch skew := time.Duration(rec.Time - now.UnixNano()); {
	case !ok:
		return reject(404, "standing", "no invitation %s in community %s", rec.Invitation, rec.Community)
	case !n.local.secretMatches(rec.Community, rec.Invitation, req.Secret):
		return reject(403, "standing", "invitation %s: the token's secret does not match; accept with the token you were sent", inv.ID)
	case inv.Pin != "" && inv.Pin != peer:
		return reject(403, "standing", "invitation %s is for another tenant", inv.ID)
	case inv.Status == policy.InvitationRevoked:
		return reject(410, "revoked", "invitation %s was revoked", inv.ID)
	case inv.Status == policy.InvitationExpired:
		return reject(410, "expired", "invitation %s expired at %s", inv.ID, time.Unix(0, inv.Expires).UTC().Format(time.RFC3339))
	case inv.Status != policy.InvitationPending:
		return reject(409, "conflict", "invitation %s was already used (%s)", inv.ID, inv.Status)
	case skew > policy.MaxClockSkew || skew < -policy.MaxClockSkew:
		return reject(400, "future", "the answer is dated %s, %s from this agent's clock; check the clocks", time.Unix(0, rec.Time).UTC().Format(time.RFC3339), skew.Round(time.Second))
	}
	added, errs := n.book.merge([]Envelope{req.Envelope}, true)
	if len(errs) == 0 && len(added) == 0 {
		errs = []error{errNoChange}
	}
	if len(errs) > 0 {
		reason := rejectReason(errs[0])
		code := 400
		if reason == "expired" {
			code = 410
		} else if reason == "conflict" {
			code = 409
		}
		return reject(code, reason, "%v", errs[0])
	}
	n.m.records.WithLabelValues("accepted").Inc()
	n.local.setTenant(peer, tenantInfo{Name: req.Name, Fed: req.Fed, Gossip: req.Gossip})
	n.log.Info("invitation answered", "community", rec.Community, "invitation", rec.Invitation, "tenant", peer, "name", req.Name, "kind", rec.Kind)
	writeJSON(w, 200, map[string]any{"records": n.book.community(rec.Community), "owner_name": n.id.Name()})
	return nil
}

func findInvitation(st policy.State, c policy.CommunityID, id string, now int64) (policy.Invitation, bool) {
	for _, inv := range st.Invitations(c, now) {
		if inv.ID == id {
			return inv, true
		}
	}
	return policy.Invitation{}, false
}

// Bounds on records pushed to /fed/v1/records. Pushes carry the few
// records an action issues; gossip carries the rest.
const (
	maxRecordsPerPush = 256
	maxPushBytes      = 1 << 20
)

// handleRecords admits records a partner pushes: its own records about
// communities this tenant takes part in, within the per-peer rate. Each is
// then judged on its own (standing, authority, signature).
func (n *Node) handleRecords(w http.ResponseWriter, r *http.Request, peer policy.TenantID) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxPushBytes)
	var envs []Envelope
	if err := json.NewDecoder(r.Body).Decode(&envs); err != nil {
		n.m.records.WithLabelValues("rejected_malformed").Inc()
		code := 400
		if errors.As(err, new(*http.MaxBytesError)) {
			code = 413
		}
		return deny(code, "malformed", "body: %v", err)
	}
	if len(envs) > maxRecordsPerPush {
		n.m.records.WithLabelValues("rejected_rate").Add(float64(len(envs)))
		return deny(413, "too_many", "%d records in one push; at most %d", len(envs), maxRecordsPerPush)
	}
	if wait, ok := n.recordBudget.take(peer, len(envs), n.opts.Now()); !ok {
		n.m.records.WithLabelValues("rejected_rate").Add(float64(len(envs)))
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return deny(429, "rate", "more than %d records a minute from %s; retry in %s", recordsPerMinute, identity.ShortID(string(peer)), wait.Round(time.Second))
	}
	kept := envs[:0]
	for _, e := range envs {
		rec, err := policy.ParseRecord(e.Record)
		switch {
		case err != nil:
			n.m.records.WithLabelValues("rejected_malformed").Inc()
		case rec.Issuer != peer:
			n.m.records.WithLabelValues("rejected_authority").Inc()
		case rec.Community == "":
			// Connection records travel on /fed/v1/connect only.
			n.m.records.WithLabelValues("rejected_standing").Inc()
		default:
			kept = append(kept, e)
		}
	}
	refused := len(envs) - len(kept)
	added := n.accept(kept, "push from "+identity.ShortID(string(peer)), true)
	writeJSON(w, 200, map[string]int{"accepted": added, "refused": refused})
	return nil
}

// handleWelcome: the owner delivers the community's records and gossip key
// to a member it has just confirmed.
func (n *Node) handleWelcome(w http.ResponseWriter, r *http.Request, peer policy.TenantID) error {
	var wl welcome
	if err := json.NewDecoder(r.Body).Decode(&wl); err != nil {
		return deny(400, "malformed", "body: %v", err)
	}
	if wl.Community.Owner() != peer {
		n.m.records.WithLabelValues("rejected_authority").Inc()
		return deny(403, "not_owner", "only the owner of %s can welcome members", wl.Community)
	}
	n.accept(wl.Records, "welcome", true)
	for t, info := range wl.Tenants {
		if t != n.self {
			n.local.setTenant(t, info)
		}
	}
	if n.book.snapshot().MemberStatus(wl.Community, n.self) != policy.MemberConfirmed {
		return deny(409, "not_confirmed", "this tenant is not confirmed in %s", wl.Community)
	}
	if len(wl.Key) != 32 {
		return deny(400, "malformed", "gossip key has %d bytes, want 32", len(wl.Key))
	}
	if err := n.local.setKey(wl.Community, wl.Key); err != nil {
		return fmt.Errorf("keep the gossip key of %s: %w", wl.Community, err)
	}
	n.reconcile()
	n.log.Info("welcomed into community", "community", wl.Community)
	w.WriteHeader(204)
	return nil
}

func (n *Node) handleCatalog(w http.ResponseWriter, r *http.Request, peer policy.TenantID) error {
	c := policy.CommunityID(r.PathValue("c"))
	shares, dec := policy.Catalog(n.book.snapshot(), policy.CatalogRequest{
		Requester: peer, Community: c, Owner: n.self, Now: n.opts.Now().UnixNano(),
	})
	if !dec.Allow {
		n.m.reads.WithLabelValues(string(c), string(peer), "catalog_"+string(dec.Reason)).Inc()
		return deny(403, string(dec.Reason), "catalog of %s denied: %s", c, dec.Reason)
	}
	out := n.catalogEntries(r.Context(), shares)
	writeJSON(w, 200, out)
	return nil
}

// handleRead serves a partner read from this agent's own store, if and as
// far as policy.Authorize allows it on this agent's own state. Without a
// community in the path, the read goes over the connection from the
// caller to this tenant.
func (n *Node) handleRead(w http.ResponseWriter, r *http.Request, peer policy.TenantID) error {
	c := policy.CommunityID(r.PathValue("c"))
	label := string(c)
	if c == "" {
		label = "connection"
	}
	stream := r.PathValue("stream")
	kind, ok := ParseReadPath(r.PathValue("kind"))
	if !ok {
		return deny(404, "bad_request", "unknown read %q", r.PathValue("kind"))
	}
	q := r.URL.Query()
	num := func(k string) int64 {
		v, _ := strconv.ParseInt(q.Get(k), 10, 64)
		return v
	}
	now := n.opts.Now().UnixNano()
	rq := ReadQuery{Stream: stream, Kind: kind, Start: num("start"), End: num("end"),
		Interval: time.Duration(num("interval")), Align: q.Get("align"), Offset: time.Duration(num("offset")),
		Count: int(num("count")), Limit: int(num("limit")),
		PageToken: q.Get("page_token"), Format: q.Get("format"), TimeFormat: q.Get("time")}
	if kind == policy.ReadLatest {
		rq.Start, rq.End = 0, now+1
		if q.Get("start") != "" {
			rq.Start = num("start")
		}
	}
	req := policy.Request{
		Requester: peer, Community: c, Stream: policy.StreamRef{Owner: n.self, Name: stream},
		Read: kind, Interval: rq.Interval, Start: rq.Start, End: rq.End, Now: now,
	}
	actor := string(peer)
	if u := q.Get("user"); u != "" {
		// The partner's agent vouches for its user; the user id is
		// scoped to the partner tenant, so it cannot name one of ours.
		req.User = policy.UserID{Tenant: peer, Name: u}
		req.Roles = policy.RoleSet(num("roles"))
		actor = string(peer) + "/" + u
	}
	dec := policy.Authorize(n.book.snapshot(), req)
	ev := AuditEvent{Side: "owner", Actor: actor, Tenant: peer, Community: c, Connection: c == "",
		Stream: stream, Read: r.PathValue("kind"), Start: rq.Start, End: rq.End}
	if !dec.Allow {
		n.m.reads.WithLabelValues(label, string(peer), string(dec.Reason)).Inc()
		n.log.Info("partner read denied", "community", c, "tenant", peer, "stream", stream, "read", kind, "reason", dec.Reason)
		ev.Kind, ev.Outcome, ev.Reason = "read_denied", "denied", string(dec.Reason)
		n.audit(r.Context(), ev)
		return deny(403, string(dec.Reason), "denied: %s", dec.Reason)
	}
	if wait, ok := n.acquireRead(peer); !ok {
		n.m.reads.WithLabelValues(label, string(peer), "throttled").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return deny(429, "throttled", "your tenant is over its read limit (%d concurrent reads, %.0f points/s); retry in %s",
			n.opts.MaxPartnerReads, n.opts.PartnerPointsPerSecond, wait.Round(time.Second))
	}
	rq.Start, rq.End = dec.Start, dec.End
	rq.Lo, rq.Hi = dec.Share.Constraints.Window(now)
	n.m.reads.WithLabelValues(label, string(peer), "allowed").Inc()
	w.Header().Add("Trailer", PointsTrailer)
	points, err := n.opts.Reader.ServeRead(w, r, rq)
	w.Header().Set(PointsTrailer, strconv.Itoa(points))
	n.releaseRead(peer, points)
	ev.Kind, ev.Outcome, ev.Points, ev.Start, ev.End = "partner_read", "allowed", points, rq.Start, rq.End
	if err != nil {
		ev.Outcome, ev.Reason = "error", err.Error()
	}
	n.audit(r.Context(), ev)
	n.log.Info("partner read", "community", c, "tenant", peer, "stream", stream, "read", kind,
		"start", time.Unix(0, rq.Start).UTC(), "end", time.Unix(0, rq.End).UTC(), "points", points, "err", err)
	return err
}
