package policy

import (
	"cmp"
	"slices"
)

// ConnectionStatus is where a one-way connection From -> To stands.
type ConnectionStatus uint8

const (
	ConnectionNone      ConnectionStatus = iota // never requested
	ConnectionPending                           // requested; To has not answered
	ConnectionAccepted                          // paired: From may use Access on To
	ConnectionRejected                          // To rejected the current request
	ConnectionCancelled                         // From withdrew its request
)

var connectionNames = []string{"none", "pending", "accepted", "rejected", "cancelled"}

// String returns the status as the CLI prints it.
func (c ConnectionStatus) String() string { return enumName(connectionNames, uint8(c), "connection") }

// Connection is a one-way connection: From asked To for access to To's
// streams. Two-way access takes two connections.
type Connection struct {
	From, To   TenantID
	Status     ConnectionStatus
	Access     Access // when accepted
	Auto       bool   // accepted by mutual requests rather than by To's review
	NoAutoPair bool   // a request between the two was cancelled once: To must review
	Comment    string // From's request comment
	Review     string // To's comment when it accepted or rejected
	Version    uint64 // of the record that decided Status
}

// Connection derives the connection from -> to. The request and the answer
// to it are separate keys with separate authorities (from and to):
//   - a cancellation at or after the request withdraws it, whether pending
//     or accepted;
//   - an answer (accepted with an access level, or rejected) counts only if
//     it is newer than the request: a new request after a rejection or a
//     cancellation is pending again;
//   - if from and to have requested each other and neither request had been
//     answered when the later of the two was made, both are accepted at once,
//     at catalog level (least privilege: to may then grant catalog+data);
//   - once either of them has cancelled a request to the other, no request
//     between them pairs by itself any more: to must review it.
func (s State) Connection(from, to TenantID) Connection {
	c := Connection{From: from, To: to,
		NoAutoPair: s.has(connKey(slotConnCancel, from, to)) || s.has(connKey(slotConnCancel, to, from))}
	req, requested := s.get(connKey(slotConnRequest, from, to))
	cancel, cancelled := s.get(connKey(slotConnCancel, from, to))
	resp, answered := s.get(connKey(slotConnResponse, from, to))
	switch answer := answered && resp.Version > req.Version; {
	case cancelled && (!requested || cancel.Version >= req.Version):
		c.Status, c.Version = ConnectionCancelled, cancel.Version
	case !requested:
	case answer && resp.Kind == KindConnectionAccepted:
		c.Status, c.Access, c.Review, c.Version = ConnectionAccepted, resp.Access, resp.Comment, resp.Version
	case answer:
		c.Status, c.Review, c.Version = ConnectionRejected, resp.Comment, resp.Version
	case !c.NoAutoPair && s.mutual(from, to):
		c.Status, c.Access, c.Auto, c.Version = ConnectionAccepted, AccessCatalog, true, req.Version
	default:
		c.Status, c.Version = ConnectionPending, req.Version
	}
	c.Comment = req.Comment
	return c
}

func connKey(sl slot, from, to TenantID) key { return key{slot: sl, tenant: from, peer: to} }

func (s State) has(k key) bool {
	_, ok := s.get(k)
	return ok
}

// mutual reports whether a and b requested each other and neither request
// was answered before the later of the two (callers check cancellations).
func (s State) mutual(a, b TenantID) bool {
	ab, ok1 := s.get(connKey(slotConnRequest, a, b))
	ba, ok2 := s.get(connKey(slotConnRequest, b, a))
	if !ok1 || !ok2 {
		return false
	}
	paired := max(ab.Version, ba.Version)
	for _, d := range []struct {
		req  Record
		from TenantID
		to   TenantID
	}{{ab, a, b}, {ba, b, a}} {
		resp, ok := s.get(connKey(slotConnResponse, d.from, d.to))
		if ok && resp.Version > d.req.Version && resp.Version <= paired {
			return false
		}
	}
	return true
}

// ConnectionLists are the connection manager's tabs for one tenant.
type ConnectionLists struct {
	Paired   []Connection // accepted, in either direction (From can see To)
	Incoming []Connection // pending requests to the tenant, for it to review
	Outgoing []Connection // pending requests from the tenant
	Rejected []Connection // rejected requests, in either direction
}

// Connections returns tenant t's lists, each by (From, To). Cancelled
// connections are in none of them.
func (s State) Connections(t TenantID) ConnectionLists {
	pairs := map[[2]TenantID]bool{}
	for k := range s.buckets[""] {
		isConn := k.slot == slotConnRequest || k.slot == slotConnCancel || k.slot == slotConnResponse
		if isConn && (k.tenant == t || k.peer == t) {
			pairs[[2]TenantID{k.tenant, k.peer}] = true
		}
	}
	var all []Connection
	for p := range pairs {
		all = append(all, s.Connection(p[0], p[1]))
	}
	slices.SortFunc(all, func(a, b Connection) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	var l ConnectionLists
	for _, c := range all {
		switch {
		case c.Status == ConnectionAccepted:
			l.Paired = append(l.Paired, c)
		case c.Status == ConnectionRejected:
			l.Rejected = append(l.Rejected, c)
		case c.Status == ConnectionPending && c.To == t:
			l.Incoming = append(l.Incoming, c)
		case c.Status == ConnectionPending:
			l.Outgoing = append(l.Outgoing, c)
		}
	}
	return l
}
