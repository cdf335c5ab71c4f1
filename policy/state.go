package policy

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"slices"
)

// slot is the family of a record key. Every slot has exactly one tenant
// with authority over it, so versions only ever compete within one issuer.
type slot uint8

const (
	slotCommunity    slot = iota + 1 // community.created (renames: last wins)
	slotDeleted                      // community.deleted: the tombstone
	slotInvitation                   // invitation.issued (write once)
	slotRevoked                      // invitation.revoked
	slotResponse                     // invitation.accepted/declined, per invitee (write once)
	slotConfirm                      // member.confirmed, per invitation (write once)
	slotRemoved                      // member.removed, per member
	slotLeft                         // member.left, per member
	slotShare                        // stream.shared/unshared, per scope and stream
	slotPause                        // sharing.paused/resumed, per scope and tenant
	slotRole                         // role.granted/revoked, per community, user and role
	slotConnRequest                  // connection.requested, per (from, to)
	slotConnCancel                   // connection.cancelled, per (from, to): kept as history
	slotConnResponse                 // connection.accepted/rejected, per (from, to)
)

var kindSlot = [...]slot{
	KindCommunityCreated:    slotCommunity,
	KindCommunityDeleted:    slotDeleted,
	KindInvitationIssued:    slotInvitation,
	KindInvitationRevoked:   slotRevoked,
	KindInvitationAccepted:  slotResponse,
	KindInvitationDeclined:  slotResponse,
	KindMemberConfirmed:     slotConfirm,
	KindMemberRemoved:       slotRemoved,
	KindMemberLeft:          slotLeft,
	KindStreamShared:        slotShare,
	KindStreamUnshared:      slotShare,
	KindSharingPaused:       slotPause,
	KindSharingResumed:      slotPause,
	KindRoleGranted:         slotRole,
	KindRoleRevoked:         slotRole,
	KindConnectionRequested: slotConnRequest,
	KindConnectionCancelled: slotConnCancel,
	KindConnectionAccepted:  slotConnResponse,
	KindConnectionRejected:  slotConnResponse,
}

// writeOnce slots hold statements that may be made only once: the first one
// (lowest version) stands and a different later one is a conflict. All other
// slots are last-writer-wins.
func (s slot) writeOnce() bool {
	return s == slotInvitation || s == slotResponse || s == slotConfirm
}

// key identifies what a record is about. Fields a slot does not use are zero.
type key struct {
	slot       slot
	community  CommunityID // "" for connections and tenant-wide roles
	invitation string
	tenant     TenantID // responder, member, pausing tenant, connection requester
	peer       TenantID // reader of a connection share or pause, connection target
	stream     StreamRef
	user       UserID
	role       Role
}

func keyOf(r Record) key {
	k := key{slot: kindSlot[r.Kind], community: r.Community, invitation: r.Invitation,
		stream: r.Stream, user: r.User, role: r.Role}
	switch k.slot {
	case slotResponse, slotLeft:
		k.tenant = r.Issuer
	case slotRemoved:
		k.tenant = r.Tenant
	case slotShare:
		k.peer = r.Tenant
	case slotPause, slotConnRequest, slotConnCancel:
		k.tenant, k.peer = r.Issuer, r.Tenant
	case slotConnResponse:
		k.tenant, k.peer = r.Tenant, r.Issuer
	}
	return k
}

// State is the merged set of valid records a tenant knows: one record per
// key. It is a value: Apply returns a new State and never changes its
// argument, so readers may keep using an old State while a writer swaps in
// the next (an atomic.Pointer or a mutex in federation). The zero State is
// empty and ready to use.
//
// Records are grouped by community so that Apply copies only the group it
// changes, and a deletion drops a whole group at once.
type State struct {
	buckets map[CommunityID]map[key]Record // "" holds connections and tenant-wide roles
}

func (s State) get(k key) (Record, bool) {
	r, ok := s.buckets[k.community][k]
	return r, ok
}

// compareRecords orders records of one key: by version, then issuer, then
// canonical bytes, so every tenant resolves ties the same way.
func compareRecords(a, b Record) int {
	if c := cmp.Compare(a.Version, b.Version); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Issuer, b.Issuer); c != 0 {
		return c
	}
	return bytes.Compare(a.SigningBytes(), b.SigningBytes())
}

// Apply merges r into s and returns the new state. On error the returned
// state is s, unchanged. Merging is a join: the result depends only on the
// set of records ever applied, not on their order or how often each came, so
// gossip may deliver them in any order and any number of times.
//
// Apply rejects what Check rejects, and records of a deleted community
// (ErrDeleted; the deletion also drops everything already held for it). For
// a key it already holds, a duplicate or an older record (by version, then
// issuer, then bytes) leaves the state as it is and is not an error, except
// in write-once slots, where a different statement that comes later is
// ErrConflict. Apply does not require prerequisites: a confirmation may
// arrive before the acceptance it confirms; the derived views (MemberStatus,
// Authorize, ...) give it effect once the acceptance is there.
func Apply(s State, r Record) (State, error) {
	k, changed, err := s.admit(r)
	if err != nil || !changed {
		return s, err
	}
	b := builder{State: s}
	b.put(k, r)
	return b.State, nil
}

// ApplyAll applies records in order, copying the state once rather than
// once per record (use it for a push/pull exchange). errs[i] is the error of
// records[i], nil if it was accepted; the state is the same as applying each
// with Apply.
func ApplyAll(s State, records []Record) (State, []error) {
	b := builder{State: s}
	errs := make([]error, len(records))
	for i, r := range records {
		k, changed, err := b.admit(r)
		if changed {
			b.put(k, r)
		}
		errs[i] = err
	}
	return b.State, errs
}

// admit decides whether r is valid and changes s, without changing s.
func (s State) admit(r Record) (key, bool, error) {
	if err := Check(r); err != nil {
		return key{}, false, err
	}
	return s.admitChecked(r)
}

// admitChecked is admit for a record that passed Check.
func (s State) admitChecked(r Record) (key, bool, error) {
	k := keyOf(r)
	if r.Community != "" && k.slot != slotDeleted {
		if _, gone := s.get(key{slot: slotDeleted, community: r.Community}); gone {
			return k, false, fmt.Errorf("policy: %s%s: %w", r.Kind, describe(r), ErrDeleted)
		}
	}
	old, ok := s.get(k)
	if !ok {
		return k, true, nil
	}
	switch c := compareRecords(r, old); {
	case c == 0:
		return k, false, nil // a duplicate
	case k.slot.writeOnce() && c > 0:
		return k, false, fmt.Errorf("policy: %s%s: %w: a different statement was made first",
			r.Kind, describe(r), ErrConflict)
	case k.slot.writeOnce():
		// The first statement arrived late: it replaces the later one, so the
		// first stands whatever the arrival order.
		return k, true, nil
	default:
		return k, c > 0, nil // last writer wins; an older record is stale
	}
}

// builder copies each bucket of a State at most once before changing it.
type builder struct {
	State
	owned map[CommunityID]bool
}

func (b *builder) put(k key, r Record) {
	if b.owned == nil {
		b.owned = map[CommunityID]bool{}
		b.buckets = maps.Clone(b.buckets)
		if b.buckets == nil {
			b.buckets = map[CommunityID]map[key]Record{}
		}
	}
	if r.Kind == KindCommunityDeleted {
		// Deleting a community ends everything in it: keep only the tombstone.
		b.buckets[k.community] = map[key]Record{k: r}
		b.owned[k.community] = true
		return
	}
	if !b.owned[k.community] {
		b.buckets[k.community] = maps.Clone(b.buckets[k.community])
		if b.buckets[k.community] == nil {
			b.buckets[k.community] = map[key]Record{}
		}
		b.owned[k.community] = true
	}
	b.buckets[k.community][k] = r
}

// Len returns the number of records held.
func (s State) Len() int {
	n := 0
	for _, b := range s.buckets {
		n += len(b)
	}
	return n
}

// Records returns every record held, ordered by SigningBytes: what a
// push/pull exchange sends, and a canonical form to compare states with.
func (s State) Records() []Record {
	type enc struct {
		b []byte
		r Record
	}
	var all []enc
	for _, b := range s.buckets {
		for _, r := range b {
			all = append(all, enc{r.SigningBytes(), r})
		}
	}
	slices.SortFunc(all, func(a, b enc) int { return bytes.Compare(a.b, b.b) })
	out := make([]Record, len(all))
	for i, e := range all {
		out[i] = e.r
	}
	return out
}
