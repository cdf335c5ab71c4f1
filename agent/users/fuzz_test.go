package users

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-edge/sluice/agent/internal/durable"
	"github.com/sluice-edge/sluice/policy"
)

// FuzzAuthenticate: no bearer string but the exact tokens authenticates,
// and nothing panics. The legacy bootstrap path is armed too.
func FuzzAuthenticate(f *testing.F) {
	dir := f.TempDir()
	d := openDir(f, dir, newClock())
	legacy := strings.Repeat("0f", 32)
	must(f, durable.CreateFile(filepath.Join(dir, "admin.token"), []byte(legacy)))
	must(f, d.EnsureBootstrap(filepath.Join(dir, "admin.token")))
	must(f, d.AddUser("alice", pw("alice"), Assignment{Role: policy.RoleCommunityMember, Community: commC}))
	tok, info := mustToken(f, d, "alice")
	valid := map[string]string{tok: "alice", legacy: BootstrapUser}
	for _, s := range []string{
		"", tok, legacy, tok[:len(tok)-1], tok + "=", "slu_" + info.ID + "_", "slu_" + info.ID, "slu__" + strings.Repeat("A", 43),
		"slu_" + strings.Repeat("g", 12) + "_" + tok[len(tok)-43:], strings.Repeat("0f", 31), "\x00", "slu_\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, bearer string) {
		p, err := d.Authenticate(bearer)
		if user, ok := valid[bearer]; ok {
			if err != nil || p.User != user {
				t.Fatalf("valid token refused: %v", err)
			}
			return
		}
		if err == nil || !errors.Is(err, ErrUnauthenticated) || p.User != "" {
			t.Fatalf("Authenticate(%q) = %+v, %v", bearer, p, err)
		}
	})
}

// FuzzParsePHC: a hash string from a damaged file never panics, and what
// parses stays within the cost bounds.
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	f.Add("$argon2id$v=19$m=4294967295,t=4294967295,p=255$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, _, _, err := parsePHC(s)
		if err == nil && p.validate() != nil {
			t.Fatalf("%q parsed to out-of-bounds %+v", s, p)
		}
	})
}
