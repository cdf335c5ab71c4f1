package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/federation/identity"
	"github.com/sluice-edge/sluice/policy"
)

// Connections are one-way links between two tenants, beside communities:
// A requests, B reviews (accept with an access level, or reject), A may
// cancel while pending; policy derives the states. Connection records
// concern exactly two tenants, so they travel directly between their two
// agents (POST /fed/v1/connect), never by gossip.

// connectRequest carries connection records between the two tenants'
// agents, with what the sender knows of itself.
type connectRequest struct {
	Records []Envelope `json:"records"`
	Name    string     `json:"name"`
	Fed     string     `json:"fed"`
	Gossip  string     `json:"gossip"`
}

// Connection is a one-way link from one tenant to another.
type Connection struct {
	From     policy.TenantID `json:"from"`
	FromName string          `json:"from_name,omitempty"`
	To       policy.TenantID `json:"to"`
	ToName   string          `json:"to_name,omitempty"`
	Status   string          `json:"status"`            // pending, accepted, rejected, cancelled
	Access   string          `json:"access,omitempty"`  // of an accepted one: catalog or catalog+data
	Comment  string          `json:"comment,omitempty"` // the requester's
	Review   string          `json:"review,omitempty"`  // the reviewer's comment
	Auto     bool            `json:"auto,omitempty"`    // paired by mutual requests
}

func (n *Node) connection(c policy.Connection) Connection {
	out := Connection{From: c.From, FromName: n.tenantName(c.From), To: c.To, ToName: n.tenantName(c.To),
		Status: c.Status.String(), Comment: c.Comment, Review: c.Review, Auto: c.Auto}
	if c.Status == policy.ConnectionAccepted {
		out.Access = c.Access.String()
	}
	return out
}

// Connections are this tenant's connections, each list sorted by the
// tenants' names.
type Connections struct {
	Paired   []Connection `json:"paired"`
	Incoming []Connection `json:"incoming"`
	Outgoing []Connection `json:"outgoing"`
	Rejected []Connection `json:"rejected"`
}

// Connections lists this tenant's connections. It does not block.
func (n *Node) Connections() Connections {
	l := n.book.snapshot().Connections(n.self)
	conv := func(cs []policy.Connection) []Connection {
		out := []Connection{}
		for _, c := range cs {
			out = append(out, n.connection(c))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].FromName+out[i].ToName < out[j].FromName+out[j].ToName })
		return out
	}
	return Connections{Paired: conv(l.Paired), Incoming: conv(l.Incoming), Outgoing: conv(l.Outgoing), Rejected: conv(l.Rejected)}
}

// ConnectionRequest asks a tenant for a connection from this one (the
// local API's body).
type ConnectionRequest struct {
	Tenant  string `json:"tenant"`  // the partner's tenant id (from its `sluice tenant card`)
	Address string `json:"address"` // its federation address, if this agent does not know it
	Comment string `json:"comment"`
}

// RequestConnection asks another tenant's agent for a connection. The
// request is recorded here only once the other agent has it, so both
// sides always show the same state.
func (n *Node) RequestConnection(ctx context.Context, req ConnectionRequest) (Connection, error) {
	id, err := identity.ParseID(req.Tenant)
	if err != nil {
		return Connection{}, deny(400, "bad_request", "tenant: %v (use the id from the partner's `sluice tenant card`)", err)
	}
	peer := policy.TenantID(id)
	if peer == n.self {
		return Connection{}, deny(400, "bad_request", "a tenant cannot connect to itself")
	}
	if req.Address != "" {
		n.local.setTenant(peer, tenantInfo{Fed: req.Address})
	}
	rec := policy.Record{Kind: policy.KindConnectionRequested, Tenant: peer, Comment: req.Comment}
	if err := n.issueTo(ctx, peer, rec, true); err != nil {
		return Connection{}, err
	}
	c := n.book.snapshot().Connection(n.self, peer)
	n.log.Info("connection requested", "to", peer, "status", c.Status)
	return n.connection(c), nil
}

// issueTo signs a connection record and hands it to the other tenant's
// agent. With strict, the record counts here only if the peer took it;
// otherwise it counts here at once and delivery is retried in the
// background.
func (n *Node) issueTo(ctx context.Context, peer policy.TenantID, rec policy.Record, strict bool) error {
	now := n.opts.Now().UnixNano()
	rec.Issuer, rec.Time = n.self, now
	if rec.Version = n.book.snapshot().NextVersion(n.self, now); rec.Version == 0 {
		return errors.New("this tenant's record clock is exhausted: no record can be issued")
	}
	env := n.seal(rec)
	if err := policy.Check(rec); err != nil {
		return deny(400, rejectReason(err), "%v", err)
	}
	send := func(ctx context.Context) error {
		var them tenantInfo
		err := n.postJSON(ctx, peer, "/fed/v1/connect", connectRequest{
			Records: []Envelope{env}, Name: n.id.Name(), Fed: n.fedAddr, Gossip: n.GossipAddr(),
		}, &them)
		if err == nil {
			n.local.setTenant(peer, them)
		}
		return err
	}
	if strict {
		if err := send(ctx); err != nil {
			return fmt.Errorf("tenant %s did not take the request: %w", n.displayTenant(peer), err)
		}
	}
	added, errs := n.book.merge([]Envelope{env}, true)
	if len(errs) == 0 && len(added) == 0 {
		errs = []error{errNoChange}
	}
	if len(errs) > 0 {
		return deny(409, rejectReason(errs[0]), "%v", errs[0])
	}
	n.m.records.WithLabelValues("issued").Inc()
	if !strict {
		n.goOwned(func(ctx context.Context) {
			for i, wait := 0, time.Second; i < 6; i, wait = i+1, wait*3 {
				sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				err := send(sctx)
				cancel()
				if err == nil {
					return
				}
				n.log.Warn("could not deliver a connection record yet", "tenant", peer, "err", err, "retry_in", wait)
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
		})
	}
	return nil
}

// handleConnect takes connection records from the other tenant of the
// link: each must be issued by the caller and concern this tenant.
func (n *Node) handleConnect(w http.ResponseWriter, r *http.Request, peer policy.TenantID) error {
	var req connectRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return deny(400, "malformed", "body: %v", err)
	}
	for _, e := range req.Records {
		rec, err := e.open()
		if err != nil {
			n.m.records.WithLabelValues("rejected_signature").Inc()
			return deny(400, "signature", "%v", err)
		}
		if rec.Issuer != peer || rec.Tenant != n.self || rec.Community != "" {
			n.m.records.WithLabelValues("rejected_authority").Inc()
			return deny(403, "issuer_mismatch", "only records between %s and this tenant, issued by the caller, are taken here", identity.ShortID(string(peer)))
		}
	}
	if _, errs := n.book.merge(req.Records, false); len(errs) > 0 {
		n.m.records.WithLabelValues("rejected_" + rejectReason(errs[0])).Inc()
		return deny(409, rejectReason(errs[0]), "%v", errs[0])
	}
	n.local.setTenant(peer, tenantInfo{Name: req.Name, Fed: req.Fed, Gossip: req.Gossip})
	n.log.Info("connection records received", "from", peer, "records", len(req.Records))
	writeJSON(w, 200, tenantInfo{Name: n.id.Name(), Fed: n.fedAddr, Gossip: n.GossipAddr()})
	return nil
}

// Review answers a pending connection request (the local API's body).
type Review struct {
	Accept  bool   `json:"accept"`
	Level   string `json:"level"`   // of an acceptance: catalog, or catalog+data (also "data")
	Comment string `json:"comment"` // required
}

// ReviewConnection accepts or rejects the pending request of a tenant
// for a connection to this one.
func (n *Node) ReviewConnection(ctx context.Context, tenant string, req Review) (Connection, error) {
	peer, err := n.ResolveTenant(tenant)
	if err != nil {
		return Connection{}, err
	}
	c := n.book.snapshot().Connection(peer, n.self)
	if c.Status != policy.ConnectionPending {
		return Connection{}, deny(409, "not_pending", "no pending request from %s (its request is %s)", n.displayTenant(peer), c.Status)
	}
	if strings.TrimSpace(req.Comment) == "" {
		return Connection{}, deny(400, "bad_request", "comment: a review needs a comment")
	}
	rec := policy.Record{Kind: policy.KindConnectionRejected, Tenant: peer, Comment: req.Comment}
	if req.Accept {
		rec.Kind = policy.KindConnectionAccepted
		switch req.Level {
		case "catalog":
			rec.Access = policy.AccessCatalog
		case "catalog+data", "data":
			rec.Access = policy.AccessCatalogData
		default:
			return Connection{}, deny(400, "bad_request", "level: %q (want catalog or catalog+data)", req.Level)
		}
	}
	if err := n.issueTo(ctx, peer, rec, false); err != nil {
		return Connection{}, err
	}
	n.log.Info("connection reviewed", "from", peer, "accepted", req.Accept, "level", req.Level)
	return n.connection(n.book.snapshot().Connection(peer, n.self)), nil
}

// CancelConnection withdraws this tenant's pending request to a tenant.
func (n *Node) CancelConnection(ctx context.Context, tenant string) error {
	peer, err := n.ResolveTenant(tenant)
	if err != nil {
		return err
	}
	if c := n.book.snapshot().Connection(n.self, peer); c.Status != policy.ConnectionPending {
		return deny(409, "not_pending", "no pending request to %s (it is %s)", n.displayTenant(peer), c.Status)
	}
	return n.issueTo(ctx, peer, policy.Record{Kind: policy.KindConnectionCancelled, Tenant: peer}, false)
}

// ShareConnection shares a stream with the tenant of an accepted
// connection from that tenant to this one.
func (n *Node) ShareConnection(ctx context.Context, tenant string, req ShareRequest) (Share, error) {
	peer, err := n.ResolveTenant(tenant)
	if err != nil {
		return Share{}, err
	}
	if err := n.ownStream(ctx, req.Stream); err != nil {
		return Share{}, err
	}
	rec := policy.Record{Kind: policy.KindStreamShared, Tenant: peer, Stream: policy.StreamRef{Owner: n.self, Name: req.Stream}, Constraints: req.Constraints}
	if err := n.issueTo(ctx, peer, rec, false); err != nil {
		return Share{}, err
	}
	n.log.Info("stream shared over a connection", "tenant", peer, "stream", req.Stream)
	return Share{Tenant: n.self, TenantName: n.id.Name(), Stream: req.Stream, Limits: limitsOf(req.Constraints)}, nil
}

// UnshareConnection stops sharing a stream with a tenant.
func (n *Node) UnshareConnection(ctx context.Context, tenant, stream string) error {
	peer, err := n.ResolveTenant(tenant)
	if err != nil {
		return err
	}
	sr := policy.StreamRef{Owner: n.self, Name: stream}
	found := false
	for _, s := range n.book.snapshot().Shares(policy.Scope{Reader: peer}) {
		found = found || s.Stream == sr
	}
	if !found {
		return deny(404, "not_shared", "stream %q is not shared with %s", stream, n.displayTenant(peer))
	}
	return n.issueTo(ctx, peer, policy.Record{Kind: policy.KindStreamUnshared, Tenant: peer, Stream: sr}, false)
}

// handleConnectionCatalog lists what this tenant shares with the caller
// over their connection.
func (n *Node) handleConnectionCatalog(w http.ResponseWriter, r *http.Request, peer policy.TenantID) error {
	shares, dec := policy.Catalog(n.book.snapshot(), policy.CatalogRequest{
		Requester: peer, Owner: n.self, Now: n.opts.Now().UnixNano(),
	})
	if !dec.Allow {
		n.m.reads.WithLabelValues("connection", string(peer), "catalog_"+string(dec.Reason)).Inc()
		return deny(403, string(dec.Reason), "catalog denied: %s", dec.Reason)
	}
	writeJSON(w, 200, n.catalogEntries(r.Context(), shares))
	return nil
}
