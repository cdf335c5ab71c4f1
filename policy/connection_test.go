package policy

import (
	"reflect"
	"testing"
)

// In these tests A is beta and B is acme: beta asks acme for access.
func TestConnectionTransitions(t *testing.T) {
	A, B := beta, acme
	for _, c := range []struct {
		name       string
		records    []Record
		ab, ba     ConnectionStatus
		access     Access // of A -> B
		auto       bool
		noAutoPair bool
	}{
		{"nothing", nil, ConnectionNone, ConnectionNone, 0, false, false},
		{"requested", []Record{request(A, B, 1)}, ConnectionPending, ConnectionNone, 0, false, false},
		{"cancelled while pending", []Record{request(A, B, 1), cancelReq(A, B, 2)}, ConnectionCancelled, ConnectionNone, 0, false, true},
		{"accepted, catalog", []Record{request(A, B, 1), acceptConn(A, B, AccessCatalog, 2)}, ConnectionAccepted, ConnectionNone, AccessCatalog, false, false},
		{"accepted, catalog+data", []Record{request(A, B, 1), acceptConn(A, B, AccessCatalogData, 2)}, ConnectionAccepted, ConnectionNone, AccessCatalogData, false, false},
		{"rejected", []Record{request(A, B, 1), rejectConn(A, B, 2)}, ConnectionRejected, ConnectionNone, 0, false, false},
		{"requested again after rejection", []Record{request(A, B, 1), rejectConn(A, B, 2), request(A, B, 3)}, ConnectionPending, ConnectionNone, 0, false, false},
		{"access revoked by a later rejection", []Record{request(A, B, 1), acceptConn(A, B, AccessCatalogData, 2), rejectConn(A, B, 3)}, ConnectionRejected, ConnectionNone, 0, false, false},
		{"withdrawn after acceptance", []Record{request(A, B, 1), acceptConn(A, B, AccessCatalogData, 2), cancelReq(A, B, 3)}, ConnectionCancelled, ConnectionNone, 0, false, true},
		{"answer before the request does not count", []Record{acceptConn(A, B, AccessCatalogData, 1), request(A, B, 2)}, ConnectionPending, ConnectionNone, 0, false, false},
		{"answer without request", []Record{acceptConn(A, B, AccessCatalogData, 1)}, ConnectionNone, ConnectionNone, 0, false, false},
		{"cancel without request", []Record{cancelReq(A, B, 1)}, ConnectionCancelled, ConnectionNone, 0, false, true},
		{"mutual requests pair at once", []Record{request(A, B, 1), request(B, A, 2)}, ConnectionAccepted, ConnectionAccepted, AccessCatalog, true, false},
		{"pairing survives B's later review", []Record{request(A, B, 1), request(B, A, 2), acceptConn(A, B, AccessCatalogData, 3)},
			ConnectionAccepted, ConnectionAccepted, AccessCatalogData, false, false},
		{"B rejects after pairing: B keeps its own side", []Record{request(A, B, 1), request(B, A, 2), rejectConn(A, B, 3)},
			ConnectionRejected, ConnectionAccepted, 0, false, false},
		{"answered before the other request: no pairing", []Record{request(A, B, 1), rejectConn(A, B, 2), request(B, A, 3)},
			ConnectionRejected, ConnectionPending, 0, false, false},
		{"accepted one way, then asked the other way: review", []Record{request(B, A, 1), acceptConn(B, A, AccessCatalog, 2), request(A, B, 3)},
			ConnectionPending, ConnectionAccepted, 0, false, false},
		{"new request after a rejection pairs with a pending one", []Record{request(A, B, 1), rejectConn(A, B, 2), request(B, A, 3), request(A, B, 4)},
			ConnectionAccepted, ConnectionAccepted, AccessCatalog, true, false},
		{"after A cancels, A's new request needs review", []Record{request(A, B, 1), cancelReq(A, B, 2), request(B, A, 3), request(A, B, 4)},
			ConnectionPending, ConnectionPending, 0, false, true},
		{"after B cancels, no pairing either", []Record{request(B, A, 1), cancelReq(B, A, 2), request(A, B, 3), request(B, A, 4)},
			ConnectionPending, ConnectionPending, 0, false, true},
		{"cancel and request at one version: cancelled", []Record{request(A, B, 2), cancelReq(A, B, 2)}, ConnectionCancelled, ConnectionNone, 0, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := build(t, c.records...)
			ab, ba := s.Connection(A, B), s.Connection(B, A)
			if ab.Status != c.ab || ba.Status != c.ba || ab.Access != c.access || ab.Auto != c.auto || ab.NoAutoPair != c.noAutoPair {
				t.Fatalf("A->B %+v\nB->A %+v", ab, ba)
			}
			if ab.From != A || ab.To != B || ab.NoAutoPair != ba.NoAutoPair {
				t.Errorf("A->B %+v", ab)
			}
		})
	}
}

func TestConnectionDetails(t *testing.T) {
	s := build(t, request(beta, acme, 1), acceptConn(beta, acme, AccessCatalogData, 5))
	want := Connection{From: beta, To: acme, Status: ConnectionAccepted, Access: AccessCatalogData,
		Comment: "maintenance contract", Review: "ok per contract 42", Version: 5}
	if got := s.Connection(beta, acme); got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestConnectionLists(t *testing.T) {
	s := build(t,
		request(beta, acme, 1), acceptConn(beta, acme, AccessCatalogData, 2), // paired, incoming side
		request(acme, gamma, 1),                         // outgoing
		request(delta, acme, 1),                         // incoming
		request(eps, acme, 1), rejectConn(eps, acme, 2), // rejected by acme
		request(acme, eps, 3), rejectConn(acme, eps, 4), // rejected by eps
		request(gamma, delta, 1),                         // not acme's business
		request(acme, beta, 5), cancelReq(acme, beta, 6), // cancelled: in no list
		grant(UserID{Tenant: acme, Name: "root"}, "", RoleTenantAdmin, 1),
		shareWith(beta, stream(acme, "temp"), 1),
	)
	l := s.Connections(acme)
	names := func(cs []Connection) (out [][2]TenantID) {
		for _, c := range cs {
			out = append(out, [2]TenantID{c.From, c.To})
		}
		return out
	}
	for _, c := range []struct {
		name string
		got  [][2]TenantID
		want [][2]TenantID
	}{
		{"paired", names(l.Paired), [][2]TenantID{{beta, acme}}},
		{"incoming", names(l.Incoming), [][2]TenantID{{delta, acme}}},
		{"outgoing", names(l.Outgoing), [][2]TenantID{{acme, gamma}}},
		{"rejected", names(l.Rejected), [][2]TenantID{{acme, eps}, {eps, acme}}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if l := (State{}).Connections(acme); l.Paired != nil || l.Incoming != nil {
		t.Errorf("empty state lists %+v", l)
	}
}
