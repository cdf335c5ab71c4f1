package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestIDFromKey(t *testing.T) {
	// Pinned so that the encoding never changes by accident: SHA-256 of 32
	// zero bytes, RFC 4648 base32, lowercase, first 26 characters.
	if got, want := IDFromKey(make(ed25519.PublicKey, 32)), "t-mzuhvlpymk6xo3epygfy5h4oea"; got != want {
		t.Errorf("IDFromKey(zero key) = %q, want %q", got, want)
	}
	if got := IDFromKey(make(ed25519.PublicKey, 31)); got != "" {
		t.Errorf("IDFromKey(31 bytes) = %q, want empty", got)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := IDFromKey(pub)
	if got, err := ParseID(id); err != nil || got != id {
		t.Errorf("ParseID(IDFromKey(random key)) = %q, %v; want %q", got, err, id)
	}
}

func TestParseID(t *testing.T) {
	const good = "t-mzuhvlpymk6xo3epygfy5h4oea"
	tests := []struct {
		in, want, err string
	}{
		{in: good, want: good},
		{in: strings.ToUpper(good), want: good},
		{in: "T-Mzuhvlpymk6xo3epygfy5h4oea", want: good},
		{in: "", err: "length 0"},
		{in: good[:IDLen-1], err: "length 27"},
		{in: good + "a", err: "length 29"},
		{in: "x-" + good[2:], err: `must start with "t-"`},
		{in: "tt" + good[2:], err: `must start with "t-"`},
		{in: "t-mzuhvlpymk6xo3epygfy5h4oe0", err: "character 28"}, // 0 is not base32
		{in: "t-mzuhvlpymk6xo3epygfy5h4oe1", err: "character 28"},
		{in: "t-mzuhvlpymk6xo3epygfy5h4oe8", err: "character 28"},
		{in: "t-mzuhvlpymk6xo3epygfy5h4o=", err: "length 27"},
		{in: "t-mzuhvlpymk6xo3epygfy5h4o==", err: "character 27"},
		{in: "t-mzuhvlpymk6xo3epygfy5h4\u212a", err: "character 26"}, // Kelvin sign, 3 bytes: no Unicode folding
		{in: " t-mzuhvlpymk6xo3epygfy5h4oe", err: "must start"},
	}
	for _, tt := range tests {
		got, err := ParseID(tt.in)
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("ParseID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalidID) || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("ParseID(%q) = %q, %v; want an ErrInvalidID containing %q", tt.in, got, err, tt.err)
		}
	}
}

func TestShortID(t *testing.T) {
	for in, want := range map[string]string{
		"t-mzuhvlpymk6xo3epygfy5h4oea": "t-mzuhvlpy",
		"T-MZUHVLPYMK6XO3EPYGFY5H4OEA": "t-mzuhvlpy",
		"t-short":                      "t-?",
		"<script>":                     "t-?",
	} {
		if got := ShortID(in); got != want {
			t.Errorf("ShortID(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"t-mzuhvlpymk6xo3epygfy5h4oea", "T-MZUHVLPYMK6XO3EPYGFY5H4OEA", "", "t-", "t-0000000000000000000000000",
		"t-mzuhvlpymk6xo3epygfy5h4\u212a", "t-mzuhvlpymk6xo3epygfy5h4oea\n", "\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) || id != "" {
				t.Fatalf("ParseID(%q) = %q, %v; want \"\" and an ErrInvalidID", s, id, err)
			}
			if got := ShortID(s); got != "t-?" {
				t.Fatalf("ShortID(invalid %q) = %q", s, got)
			}
			return
		}
		if len(id) != IDLen || !strings.HasPrefix(id, IDPrefix) || !strings.EqualFold(id, s) {
			t.Fatalf("ParseID(%q) = %q: not a canonical form of the input", s, id)
		}
		for _, c := range []byte(id[len(IDPrefix):]) {
			if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
				t.Fatalf("ParseID(%q) = %q: character %q outside the alphabet", s, id, c)
			}
		}
		if again, err := ParseID(id); err != nil || again != id {
			t.Fatalf("ParseID(ParseID(%q)) = %q, %v; want %q", s, again, err, id)
		}
		if short := ShortID(s); !strings.HasPrefix(id, short) || len(short) != len(IDPrefix)+shortChars {
			t.Fatalf("ShortID(%q) = %q, want a prefix of %q", s, short, id)
		}
	})
}
