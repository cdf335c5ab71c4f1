package identity

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestSignVerify(t *testing.T) {
	a := newTenant(t, "alpha", Options{})
	b := newTenant(t, "beta", Options{})
	msg := []byte(`{"kind":"share","stream":"boiler/temp"}`)
	sig := a.Sign(msg)
	tampered := append([]byte(nil), msg...)
	tampered[3] ^= 1
	badSig := append([]byte(nil), sig...)
	badSig[0] ^= 1
	plain := ed25519.Sign(a.key, msg) // pure Ed25519, no record context

	tests := []struct {
		name string
		id   string
		pub  ed25519.PublicKey
		msg  []byte
		sig  []byte
		want error // nil: valid
	}{
		{"valid", a.ID(), a.PublicKey(), msg, sig, nil},
		{"tampered message", a.ID(), a.PublicKey(), tampered, sig, ErrBadSignature},
		{"tampered signature", a.ID(), a.PublicKey(), msg, badSig, ErrBadSignature},
		{"truncated signature", a.ID(), a.PublicKey(), msg, sig[:40], ErrBadSignature},
		{"empty signature", a.ID(), a.PublicKey(), msg, nil, ErrBadSignature},
		{"wrong key for the claimed tenant", a.ID(), b.PublicKey(), msg, sig, ErrWrongTenant},
		{"other tenant's key and id, A's signature", b.ID(), b.PublicKey(), msg, sig, ErrBadSignature},
		{"short key", a.ID(), a.PublicKey()[:31], msg, sig, ErrWrongTenant},
		{"invalid tenant id", "acme", a.PublicKey(), msg, sig, ErrInvalidID},
		{"signature without the record context", a.ID(), a.PublicKey(), msg, plain, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.id, tt.pub, tt.msg, tt.sig)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}

	if pub := a.PublicKey(); IDFromKey(pub) != a.ID() {
		t.Errorf("IDFromKey(PublicKey()) = %s, want %s", IDFromKey(pub), a.ID())
	}
	pub := a.PublicKey()
	pub[0] ^= 1
	if IDFromKey(a.PublicKey()) != a.ID() {
		t.Error("PublicKey returned the tenant's own slice")
	}
}
