package policy

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Errors of Admit beside those of Check and Apply.
var (
	// ErrNoStanding: the issuer has no standing for the record in the
	// admitting tenant's state: it is not the community's owner nor a
	// member in the state the record needs, or the record concerns neither
	// the admitting tenant nor a community it takes part in.
	ErrNoStanding = errors.New("issuer has no standing")
	// ErrFuture: the record's version lies more than MaxClockSkew ahead of
	// the admitting tenant's clock.
	ErrFuture = errors.New("version from the future")
)

// MaxClockSkew bounds how far ahead of the receiver's clock a version may
// lie. Versions are hybrid logical clocks (see NextVersion): Unix
// nanoseconds, pushed past every version held. Refusing versions from the
// far future keeps any issuer from moving another's clock more than this,
// and from saturating it.
const MaxClockSkew = 10 * time.Minute

// Admission says who admits records and when.
type Admission struct {
	Self TenantID // the admitting tenant
	Now  int64    // its clock, Unix ns
	// Trusted skips the standing rules, for records this tenant issued,
	// read back from its own disk, or checked itself in a handshake (the
	// owner taking an acceptance on its own clock). Check, the clock bound
	// of foreign records and the merge rules still apply.
	Trusted bool
	// Verify, when set, is called for record i once it has passed every
	// other rule and would change the state, and before it is applied:
	// federation checks the signature there, so records that could change
	// nothing cost no signature check.
	Verify func(i int) error
}

// Admitted is the outcome of Admit: Errs[i] is record i's error (nil if it
// was applied, a duplicate or stale), Added the indices of the records that
// changed the state, in the order they were applied.
type Admitted struct {
	Errs  []error
	Added []int
}

// Admit merges records that arrive from outside into s, the admitting
// tenant's state, after deciding for each whether its issuer has standing:
//   - a record of the admitting tenant itself always has (its other agents);
//   - a connection-scope or tenant-wide record counts only when it names
//     the admitting tenant as the other party (Record.Tenant); nobody's role
//     records count but the admitting tenant's own, since roles are
//     vouched per request, never gossiped;
//   - a community record counts only in a community the admitting tenant
//     owns or takes part in (it holds a record of its own there); then the
//     owner's records count, a member's share, pause or resume only while
//     it is confirmed, its unshare or leave while it has any standing; an
//     acceptance only once the owner's confirmation of it is held, since
//     the owner alone takes acceptances, on its own clock, in the handshake
//     (single use and expiry hold on every path); a decline never.
//
// Records are tried again while others make progress, so one batch may
// carry a member's share before its confirmation. Admit is not a join:
// standing is judged on the state at hand; but what it admits is merged
// with Apply's rules, so the state stays a join of what was admitted.
// Versions more than MaxClockSkew ahead of Now are refused (ErrFuture).
// Standing costs a few map lookups, so a flood from issuers without
// standing is refused before any signature check; the whole batch copies
// each community's bucket at most once.
func Admit(s State, records []Record, a Admission) (State, Admitted) {
	m := merger{b: builder{State: s}, a: a, members: map[CommunityID]map[TenantID]Member{},
		interest: map[CommunityID]bool{}}
	out := Admitted{Errs: make([]error, len(records))}
	pending := make([]int, len(records))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		var retry []int
		progress := false
		for _, i := range pending {
			err := m.try(records[i], i)
			switch {
			case errors.Is(err, errApplied):
				out.Added = append(out.Added, i)
				progress, err = true, nil
			case errors.Is(err, ErrNoStanding):
				retry = append(retry, i)
			}
			out.Errs[i] = err
		}
		if !progress {
			break // nothing changed: the rest have no standing
		}
		pending = retry
	}
	return m.b.State, out
}

var errApplied = errors.New("applied")

type merger struct {
	b        builder
	a        Admission
	members  map[CommunityID]map[TenantID]Member // memo, dropped when membership records change
	interest map[CommunityID]bool                // whether Self holds a record of its own there
}

func (m *merger) try(r Record, i int) error {
	if err := Check(r); err != nil {
		return err
	}
	if r.Issuer != m.a.Self && r.Version > uint64(max(m.a.Now, 0))+uint64(MaxClockSkew) {
		return fmt.Errorf("policy: %s%s: %w: version %d is more than %s ahead of this agent's clock",
			r.Kind, describe(r), ErrFuture, r.Version, MaxClockSkew)
	}
	if !m.a.Trusted {
		if detail := m.standing(r); detail != "" {
			return fmt.Errorf("policy: %s%s: %w: %s", r.Kind, describe(r), ErrNoStanding, detail)
		}
	}
	k, changed, err := m.b.admitChecked(r)
	if err != nil || !changed {
		return err
	}
	if m.a.Verify != nil {
		if err := m.a.Verify(i); err != nil {
			return err
		}
	}
	m.b.put(k, r)
	if r.Issuer == m.a.Self {
		m.interest[r.Community] = true
	}
	switch k.slot {
	case slotInvitation, slotRevoked, slotResponse, slotConfirm, slotRemoved, slotLeft, slotCommunity, slotDeleted:
		delete(m.members, r.Community)
	}
	return errApplied
}

// standing says why r's issuer has no standing with the admitting tenant,
// or "" if it has (see Admit).
func (m *merger) standing(r Record) string {
	self := m.a.Self
	isRole := r.Kind == KindRoleGranted || r.Kind == KindRoleRevoked
	switch {
	case r.Issuer == self:
		return ""
	case isRole:
		return "roles count only at their own tenant"
	case r.Community == "":
		if r.Tenant != self {
			return "the record concerns two other tenants"
		}
		return ""
	}
	c, owner := r.Community, r.Community.Owner()
	if owner != self && !m.takesPart(c) {
		return "this tenant takes no part in the community"
	}
	if r.Issuer == owner {
		return ""
	}
	status := m.memberStatus(c, r.Issuer)
	switch r.Kind {
	case KindInvitationAccepted:
		conf, ok := m.b.get(key{slot: slotConfirm, community: c, invitation: r.Invitation})
		if !ok || conf.Tenant != r.Issuer {
			return "the owner takes acceptances in the handshake; elsewhere one counts once the owner confirmed it"
		}
	case KindInvitationDeclined:
		return "the owner takes declines in the handshake"
	case KindStreamShared, KindSharingPaused, KindSharingResumed:
		if status != MemberConfirmed {
			return "the issuer is not a confirmed member (" + status.String() + ")"
		}
	case KindStreamUnshared, KindMemberLeft:
		if status == MemberNone {
			return "the issuer is not a member"
		}
	}
	return ""
}

func (m *merger) memberStatus(c CommunityID, t TenantID) MemberStatus {
	ms, ok := m.members[c]
	if !ok {
		ms = m.b.members(c)
		m.members[c] = ms
	}
	return ms[t].Status
}

func (m *merger) takesPart(c CommunityID) bool {
	if v, ok := m.interest[c]; ok {
		return v
	}
	v := false
	for _, r := range m.b.buckets[c] {
		if r.Issuer == m.a.Self || r.Tenant == m.a.Self {
			v = true
			break
		}
	}
	m.interest[c] = v
	return v
}

// NextVersion returns the version for the next record self issues, at
// its clock now: a hybrid logical clock, the larger of now and one more
// than the highest version held, so a record issued after another was
// seen is ordered after it (Lamport's rule) while versions stay close to
// real time. Other tenants' versions count only up to now+MaxClockSkew/2:
// no issuer can push this tenant's clock further than that, let alone
// saturate it (Admit refuses anything beyond MaxClockSkew anyway). Only
// comparisons across issuers (a leave against a later confirmation, a
// connection request against its answer) use the clock, and there a
// version inflated by one issuer only delays the relations it is part of.
// It returns 0 if self's own clock is exhausted.
func (s State) NextVersion(self TenantID, now int64) uint64 {
	limit := uint64(max(now, 0)) + uint64(MaxClockSkew/2)
	v := uint64(max(now, 1))
	for _, b := range s.buckets {
		for _, r := range b {
			rv := r.Version
			if r.Issuer != self {
				rv = min(rv, limit)
			}
			if rv >= v {
				if rv == math.MaxUint64 {
					return 0
				}
				v = rv + 1
			}
		}
	}
	return v
}
