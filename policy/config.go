package policy

import (
	"errors"
	"math"
	"time"
)

// DefaultInvitationTTL is how long an invitation can be accepted, as users
// of the cloud products know it.
const DefaultInvitationTTL = 14 * 24 * time.Hour

// Config holds the tenant's own tunables for the records it issues. Rules
// never read it: an invitation carries its absolute expiry, computed by the
// owner from its Config when it issues the invitation, so every tenant
// judges an acceptance the same way whatever its own configuration.
type Config struct {
	InvitationTTL time.Duration // 0 means DefaultInvitationTTL; negative is invalid
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{InvitationTTL: DefaultInvitationTTL} }

// Validate reports a negative TTL, naming the configuration key.
func (c Config) Validate() error {
	if c.InvitationTTL < 0 {
		return errors.New("policy: invitation_ttl must not be negative")
	}
	return nil
}

// InvitationExpires returns the Expires of an invitation issued at issued
// (Unix ns), saturating rather than overflowing.
func (c Config) InvitationExpires(issued int64) int64 {
	ttl := c.InvitationTTL
	if ttl <= 0 {
		ttl = DefaultInvitationTTL
	}
	if issued > math.MaxInt64-int64(ttl) {
		return math.MaxInt64
	}
	return issued + int64(ttl)
}
