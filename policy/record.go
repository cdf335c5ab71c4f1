package policy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Kind is the kind of a record. The numeric values are part of the signed
// encoding: never renumber them, only append.
type Kind uint8

// Record kinds. The comment names the only issuer that has authority.
const (
	KindCommunityCreated    Kind = 1  // owner of Community; carries Name
	KindCommunityDeleted    Kind = 2  // owner; ends everything in the community
	KindInvitationIssued    Kind = 3  // owner; Invitation, Email, Expires, optional Tenant pin
	KindInvitationRevoked   Kind = 4  // owner
	KindInvitationAccepted  Kind = 5  // invitee (any tenant but the owner); repeats Expires
	KindInvitationDeclined  Kind = 6  // invitee
	KindMemberConfirmed     Kind = 7  // owner; names Invitation and the Tenant it admits
	KindMemberRemoved       Kind = 8  // owner; names Tenant (never the owner)
	KindMemberLeft          Kind = 9  // the member itself
	KindStreamShared        Kind = 10 // Stream.Owner; into Community, or the connection from Tenant
	KindStreamUnshared      Kind = 11 // Stream.Owner
	KindSharingPaused       Kind = 12 // the pausing tenant, for Community or the connection from Tenant
	KindSharingResumed      Kind = 13 // the pausing tenant
	KindRoleGranted         Kind = 14 // User.Tenant; Role, in Community or tenant-wide
	KindRoleRevoked         Kind = 15 // User.Tenant
	KindConnectionRequested Kind = 16 // requester A, to Tenant B; optional Comment
	KindConnectionCancelled Kind = 17 // requester A
	KindConnectionAccepted  Kind = 18 // B, for the request from Tenant A; Access and Comment
	KindConnectionRejected  Kind = 19 // B; Comment
)

var kindNames = []string{
	0:                       "",
	KindCommunityCreated:    "community.created",
	KindCommunityDeleted:    "community.deleted",
	KindInvitationIssued:    "invitation.issued",
	KindInvitationRevoked:   "invitation.revoked",
	KindInvitationAccepted:  "invitation.accepted",
	KindInvitationDeclined:  "invitation.declined",
	KindMemberConfirmed:     "member.confirmed",
	KindMemberRemoved:       "member.removed",
	KindMemberLeft:          "member.left",
	KindStreamShared:        "stream.shared",
	KindStreamUnshared:      "stream.unshared",
	KindSharingPaused:       "sharing.paused",
	KindSharingResumed:      "sharing.resumed",
	KindRoleGranted:         "role.granted",
	KindRoleRevoked:         "role.revoked",
	KindConnectionRequested: "connection.requested",
	KindConnectionCancelled: "connection.cancelled",
	KindConnectionAccepted:  "connection.accepted",
	KindConnectionRejected:  "connection.rejected",
}

func (k Kind) valid() bool { return k >= KindCommunityCreated && k <= KindConnectionRejected }

// String returns the dotted name used in errors, logs and metrics labels.
func (k Kind) String() string { return enumName(kindNames, uint8(k), "kind") }

// enumName returns names[v], or "typ(v)" for a value without a name.
func enumName(names []string, v uint8, typ string) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, v)
}

// Access is the level a tenant grants on an accepted connection.
type Access uint8

const (
	AccessCatalog     Access = 1 // the requester may list the streams shared with it
	AccessCatalogData Access = 2 // ... and read them
)

func (a Access) valid() bool { return a == AccessCatalog || a == AccessCatalogData }

var accessNames = []string{"", "catalog", "catalog+data"}

// String returns "catalog" or "catalog+data".
func (a Access) String() string { return enumName(accessNames, uint8(a), "access") }

// Constraints narrow a share beyond what the cloud products offer. The zero
// value places no constraint. Instants are Unix nanoseconds.
type Constraints struct {
	NotBefore   int64         // no data before this instant (0: no bound)
	Lookback    time.Duration // only the last Lookback before now, e.g. 30*24h (0: no bound)
	Expires     int64         // the share ends at this instant (0: never)
	MinInterval time.Duration // only summaries at >= this interval, no raw points (0: raw allowed)
}

func (c Constraints) valid() bool {
	return c.NotBefore >= 0 && c.Lookback >= 0 && c.Expires >= 0 && c.MinInterval >= 0
}

// Record is one signed statement of a tenant. Federation verifies the
// signature over SigningBytes and passes the record with its verified Issuer;
// policy then checks authority (Check) and merges it (Apply).
//
// Only the fields listed for a Kind (see the Kind constants) may be set; all
// others must be zero, so that each statement has exactly one encoding.
type Record struct {
	Kind    Kind
	Issuer  TenantID // the signing tenant
	Version uint64   // Lamport counter of the issuer, >= 1; orders records of one key
	Time    int64    // Unix ns on the issuer's clock when issued (> 0)

	Community   CommunityID // community-scoped kinds
	Name        string      // community display name
	Invitation  string      // invitation id, chosen by the owner (random)
	Email       string      // invitee address, as a label
	Tenant      TenantID    // the other tenant: invitee pin, member, connection peer or reader
	Stream      StreamRef   // share kinds
	Constraints Constraints // stream.shared
	User        UserID      // role kinds
	Role        Role        // role kinds
	Access      Access      // connection.accepted
	Comment     string      // connection kinds
	Expires     int64       // invitation expiry (Unix ns); repeated in the acceptance
}

// recordMagic separates this encoding from anything else the tenant key
// signs, and carries the format version.
const recordMagic = "sluice/policy/record/v1\x00"

// SigningBytes returns the canonical encoding of r, which federation signs
// and may use as the wire format. It is deterministic: the magic string, then
// every field in declaration order, always present, with integers as
// big-endian fixed width (u8 for Kind, Role, Access; 8 bytes for the others,
// two's complement for signed) and strings as a 4-byte big-endian length and
// the bytes. StreamRef, Constraints and UserID are their fields in order.
// Two records are the same statement iff their SigningBytes are equal.
func (r Record) SigningBytes() []byte {
	b := make([]byte, 0, 128+len(r.Name)+len(r.Comment)+len(r.Stream.Name))
	b = append(b, recordMagic...)
	b = append(b, byte(r.Kind))
	b = appendString(b, string(r.Issuer))
	b = binary.BigEndian.AppendUint64(b, r.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time))
	b = appendString(b, string(r.Community))
	b = appendString(b, r.Name)
	b = appendString(b, r.Invitation)
	b = appendString(b, r.Email)
	b = appendString(b, string(r.Tenant))
	b = appendString(b, string(r.Stream.Owner))
	b = appendString(b, r.Stream.Name)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Constraints.NotBefore))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Constraints.Lookback))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Constraints.Expires))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Constraints.MinInterval))
	b = appendString(b, string(r.User.Tenant))
	b = appendString(b, r.User.Name)
	b = append(b, byte(r.Role), byte(r.Access))
	b = appendString(b, r.Comment)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ErrEncoding reports bytes that are not a record encoding.
var ErrEncoding = errors.New("policy: bad record encoding")

// ParseRecord decodes bytes produced by SigningBytes. It checks only the
// encoding (ParseRecord(r.SigningBytes()) == r for every r, and every
// accepted input re-encodes to itself); Check and Apply judge the content.
func ParseRecord(b []byte) (Record, error) {
	d := decoder{b: b}
	if string(d.take(uint64(len(recordMagic)))) != recordMagic {
		return Record{}, fmt.Errorf("%w: bad magic", ErrEncoding)
	}
	var r Record
	r.Kind = Kind(d.u8())
	r.Issuer = TenantID(d.str())
	r.Version = d.u64()
	r.Time = int64(d.u64())
	r.Community = CommunityID(d.str())
	r.Name = d.str()
	r.Invitation = d.str()
	r.Email = d.str()
	r.Tenant = TenantID(d.str())
	r.Stream.Owner = TenantID(d.str())
	r.Stream.Name = d.str()
	r.Constraints.NotBefore = int64(d.u64())
	r.Constraints.Lookback = time.Duration(d.u64())
	r.Constraints.Expires = int64(d.u64())
	r.Constraints.MinInterval = time.Duration(d.u64())
	r.User.Tenant = TenantID(d.str())
	r.User.Name = d.str()
	r.Role = Role(d.u8())
	r.Access = Access(d.u8())
	r.Comment = d.str()
	r.Expires = int64(d.u64())
	if d.short {
		return Record{}, fmt.Errorf("%w: truncated", ErrEncoding)
	}
	if len(d.b) != 0 {
		return Record{}, fmt.Errorf("%w: %d trailing bytes", ErrEncoding, len(d.b))
	}
	return r, nil
}

// decoder reads fixed-order fields; after the first short read every read
// returns zero and short stays set, so ParseRecord checks once at the end.
type decoder struct {
	b     []byte
	short bool
}

func (d *decoder) take(n uint64) []byte {
	if d.short || n > uint64(len(d.b)) {
		d.short = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) str() string {
	v := d.take(4)
	if v == nil {
		return ""
	}
	return string(d.take(uint64(binary.BigEndian.Uint32(v))))
}
