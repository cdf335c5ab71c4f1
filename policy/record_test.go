package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"testing/quick"
)

func TestSigningBytesRoundTrip(t *testing.T) {
	for _, r := range samples() {
		got, err := ParseRecord(r.SigningBytes())
		if err != nil || got != r {
			t.Errorf("%s: ParseRecord(SigningBytes) = %+v, %v", r.Kind, got, err)
		}
	}
	// Any record, valid or not, survives the encoding unchanged.
	roundTrip := func(r Record) bool {
		got, err := ParseRecord(r.SigningBytes())
		return err == nil && got == r
	}
	if err := quick.Check(roundTrip, &quick.Config{MaxCount: 500}); err != nil {
		t.Error(err)
	}
}

// TestSigningBytesGolden pins the encoding: signatures made by one release
// must verify in the next. If this fails, the format changed: bump the magic.
func TestSigningBytesGolden(t *testing.T) {
	r := samples()[9] // stream.shared, with every constraint set
	b := r.SigningBytes()
	sum := sha256.Sum256(b)
	const want = "8dd385661080e97caac49bc1197bd968bf33f041f13820a6211cfe8c65873d63"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("sha256(SigningBytes) = %s, want %s (len %d)", got, want, len(b))
	}
	if !bytes.HasPrefix(b, []byte("sluice/policy/record/v1\x00\x0a\x00\x00\x00\x04beta")) {
		t.Errorf("SigningBytes starts %q", b[:40])
	}
}

func TestParseRecordErrors(t *testing.T) {
	good := samples()[9].SigningBytes()
	for n := 0; n < len(good); n++ {
		if _, err := ParseRecord(good[:n]); !errors.Is(err, ErrEncoding) {
			t.Fatalf("prefix of %d bytes: err = %v, want ErrEncoding", n, err)
		}
	}
	bad := bytes.Clone(good)
	bad[0] = 'S'
	for name, b := range map[string][]byte{
		"trailing":  append(bytes.Clone(good), 0),
		"magic":     bad,
		"huge len":  append([]byte(recordMagic+"\x01"), 0xff, 0xff, 0xff, 0xff),
		"nil input": nil,
	} {
		if _, err := ParseRecord(b); !errors.Is(err, ErrEncoding) {
			t.Errorf("%s: err = %v, want ErrEncoding", name, err)
		}
	}
}

func TestEnumNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{KindCommunityCreated.String(), "community.created"},
		{KindConnectionRejected.String(), "connection.rejected"},
		{Kind(0).String(), "kind(0)"},
		{Kind(20).String(), "kind(20)"},
		{RoleDataSteward.String(), "data-steward"},
		{Role(0).String(), "role(0)"},
		{AccessCatalogData.String(), "catalog+data"},
		{Access(7).String(), "access(7)"},
		{MemberLeft.String(), "left"},
		{MemberStatus(9).String(), "member(9)"},
		{InvitationConfirmed.String(), "confirmed"},
		{InvitationStatus(0).String(), "invitation(0)"},
		{ConnectionCancelled.String(), "cancelled"},
		{ConnectionStatus(5).String(), "connection(5)"},
		{ReadSummaries.String(), "summaries"},
		{ReadKind(0).String(), "read(0)"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestIDs(t *testing.T) {
	for _, c := range []struct {
		id    CommunityID
		owner TenantID
		valid bool
	}{
		{C, acme, true},
		{NewCommunityID("SHA256:ab/cd", "e1"), "SHA256:ab/cd", true}, // tenant ids may hold '/'
		{"nonce-only", "", false},
		{"/x", "", false},
		{"acme/", acme, false},
		{"acme/has space", acme, false},
	} {
		if got := c.id.Owner(); got != c.owner {
			t.Errorf("%q.Owner() = %q, want %q", c.id, got, c.owner)
		}
		if got := c.id.valid(); got != c.valid {
			t.Errorf("%q.valid() = %v, want %v", c.id, got, c.valid)
		}
	}
	long := string(bytes.Repeat([]byte("a"), maxID+1))
	for _, s := range []string{"", long, "a b", "a\x7f", "é"} {
		if validID(s) {
			t.Errorf("validID(%q) = true", s)
		}
	}
	for _, s := range []string{"", "a\nb", "\xff", string(bytes.Repeat([]byte("a"), maxName+1))} {
		if validText(s, maxName) {
			t.Errorf("validText(%q) = true", s)
		}
	}
	if !validText("Débit vapeur / ligne 2", maxName) {
		t.Error("validText rejects UTF-8 names")
	}
	for _, s := range []string{"ops", "@x", "ops@", "o ps@x", "ops@x\n"} {
		if validEmail(s) {
			t.Errorf("validEmail(%q) = true", s)
		}
	}
}
