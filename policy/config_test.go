package policy

import (
	"math"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil || c.InvitationTTL != 14*24*time.Hour {
		t.Errorf("DefaultConfig = %+v, %v", c, err)
	}
	if err := (Config{InvitationTTL: -1}).Validate(); err == nil {
		t.Error("negative TTL accepted")
	}
	for _, x := range []struct {
		cfg    Config
		issued int64
		want   int64
	}{
		{Config{}, t0, t0 + ttl},
		{Config{InvitationTTL: time.Hour}, t0, t0 + int64(time.Hour)},
		{Config{}, math.MaxInt64 - 1, math.MaxInt64},
	} {
		if got := x.cfg.InvitationExpires(x.issued); got != x.want {
			t.Errorf("%+v.InvitationExpires(%d) = %d, want %d", x.cfg, x.issued, got, x.want)
		}
	}
	// An invitation built with it is valid.
	r := invite(C, "i", "", 1)
	r.Expires = DefaultConfig().InvitationExpires(r.Time)
	if err := Check(r); err != nil {
		t.Error(err)
	}
}
