package policy

import (
	"strings"
	"testing"
)

func TestCheckAcceptsEveryKind(t *testing.T) {
	for _, r := range samples() {
		if err := Check(r); err != nil {
			t.Errorf("%s: %v", r.Kind, err)
		}
	}
	// Scoped kinds also take a connection scope; roles may be tenant-wide.
	for _, r := range []Record{
		shareWith(acme, stream(beta, "flow"), 1),
		{Kind: KindSharingPaused, Issuer: beta, Version: 1, Time: t0, Tenant: acme},
		grant(UserID{Tenant: beta, Name: "root"}, "", RoleTenantAdmin, 1),
		grant(UserID{Tenant: beta, Name: "ana"}, "", RoleCommunityMember, 1),
		invite(C, "open", "", 1), // e-mail only, no pinned tenant
		func() Record { r := request(beta, acme, 1); r.Comment = ""; return r }(),
	} {
		if err := Check(r); err != nil {
			t.Errorf("%s: %v", r.Kind, err)
		}
	}
}

func TestCheckRejects(t *testing.T) {
	u := UserID{Tenant: beta, Name: "ana"}
	for _, c := range []struct {
		name   string
		r      Record
		change func(*Record)
		want   error
		detail string
	}{
		{"unknown kind 0", created(C, 1), func(r *Record) { r.Kind = 0 }, ErrMalformed, "unknown kind"},
		{"unknown kind 20", created(C, 1), func(r *Record) { r.Kind = 20 }, ErrMalformed, "unknown kind"},
		{"no issuer", created(C, 1), func(r *Record) { r.Issuer = "" }, ErrMalformed, "bad issuer"},
		{"issuer with space", created(C, 1), func(r *Record) { r.Issuer = "ac me" }, ErrMalformed, "bad issuer"},
		{"version 0", created(C, 1), func(r *Record) { r.Version = 0 }, ErrMalformed, "version"},
		{"time 0", created(C, 1), func(r *Record) { r.Time = 0 }, ErrMalformed, "time"},
		{"negative time", created(C, 1), func(r *Record) { r.Time = -1 }, ErrMalformed, "time"},
		{"missing name", created(C, 1), func(r *Record) { r.Name = "" }, ErrMalformed, "missing name"},
		{"missing two", invite(C, "i", "", 1), func(r *Record) { r.Email, r.Expires = "", 0 }, ErrMalformed, "missing email,expires"},
		{"extra field", deleted(C, 1), func(r *Record) { r.Comment = "bye" }, ErrMalformed, "not allowed for this kind: comment"},
		{"extra stream", created(C, 1), func(r *Record) { r.Stream = stream(acme, "x") }, ErrMalformed, "stream"},
		{"extra constraints", unshareIn(C, stream(beta, "f"), 1), func(r *Record) { r.Constraints.Lookback = 1 }, ErrMalformed, "constraints"},
		{"extra user", created(C, 1), func(r *Record) { r.User = u }, ErrMalformed, "user"},
		{"extra role", created(C, 1), func(r *Record) { r.Role = RoleTenantAdmin }, ErrMalformed, "role"},
		{"extra access", request(beta, acme, 1), func(r *Record) { r.Access = AccessCatalog }, ErrMalformed, "access"},
		{"scope none", pauseIn(C, beta, 1), func(r *Record) { r.Community = "" }, ErrMalformed, "exactly one"},
		{"scope both", pauseIn(C, beta, 1), func(r *Record) { r.Tenant = acme }, ErrMalformed, "exactly one"},
		{"bad community", created(C, 1), func(r *Record) { r.Community = "c1" }, ErrMalformed, "bad community"},
		{"bad name", created(C, 1), func(r *Record) { r.Name = "a\x1bb" }, ErrMalformed, "bad name"},
		{"bad invitation", revoke(C, "i", 1), func(r *Record) { r.Invitation = "i j" }, ErrMalformed, "bad invitation"},
		{"bad email", invite(C, "i", "", 1), func(r *Record) { r.Email = "ops" }, ErrMalformed, "bad email"},
		{"bad tenant", remove(C, beta, 1), func(r *Record) { r.Tenant = "be ta" }, ErrMalformed, "bad tenant"},
		{"bad stream", shareIn(C, stream(beta, "f"), 1, Constraints{}), func(r *Record) { r.Stream.Name = "" }, ErrMalformed, "bad stream"},
		{"bad constraints", shareIn(C, stream(beta, "f"), 1, Constraints{}), func(r *Record) { r.Constraints.MinInterval = -1 }, ErrMalformed, "bad constraints"},
		{"bad user", grant(u, C, RoleDataSteward, 1), func(r *Record) { r.User.Name = "" }, ErrMalformed, "bad user"},
		{"bad role", grant(u, C, RoleDataSteward, 1), func(r *Record) { r.Role = 9 }, ErrMalformed, "bad role"},
		{"bad access", acceptConn(beta, acme, AccessCatalog, 1), func(r *Record) { r.Access = 3 }, ErrMalformed, "bad access"},
		{"bad comment", rejectConn(beta, acme, 1), func(r *Record) { r.Comment = strings.Repeat("x", maxComment+1) }, ErrMalformed, "bad comment"},
		{"accept without comment", acceptConn(beta, acme, AccessCatalog, 1), func(r *Record) { r.Comment = "" }, ErrMalformed, "missing comment"},
		{"expires before issue", invite(C, "i", "", 1), func(r *Record) { r.Expires = r.Time }, ErrMalformed, "expires before"},
		{"tenant admin in a community", grant(u, C, RoleTenantAdmin, 1), nil, ErrMalformed, "tenant-wide"},
		{"pin the owner", invite(C, "i", acme, 1), nil, ErrMalformed, "issuer itself"},
		{"confirm the owner", confirm(C, "i", acme, 1), nil, ErrMalformed, "issuer itself"},
		{"connect to self", request(beta, beta, 1), nil, ErrMalformed, "issuer itself"},
		{"share with self", shareWith(beta, stream(beta, "f"), 1), nil, ErrMalformed, "issuer itself"},

		{"partner creates owner's community", created(C, 1), func(r *Record) { r.Issuer = beta }, ErrNoAuthority, "owner"},
		{"partner deletes", deleted(C, 1), func(r *Record) { r.Issuer = beta }, ErrNoAuthority, "owner"},
		{"partner invites", invite(C, "i", gamma, 1), func(r *Record) { r.Issuer = beta }, ErrNoAuthority, "owner"},
		{"partner revokes", revoke(C, "i", 1), func(r *Record) { r.Issuer = beta }, ErrNoAuthority, "owner"},
		{"invitee confirms itself", confirm(C, "i", beta, 1), func(r *Record) { r.Issuer = beta; r.Tenant = gamma }, ErrNoAuthority, "owner"},
		{"partner removes another", remove(C, gamma, 1), func(r *Record) { r.Issuer = beta }, ErrNoAuthority, "owner"},
		{"owner removes itself", remove(C, acme, 1), nil, ErrNoAuthority, "owner cannot be removed"},
		{"owner accepts", accept(C, "i", acme, 1), nil, ErrNoAuthority, "member by ownership"},
		{"owner declines", decline(C, "i", acme, 1), nil, ErrNoAuthority, "member by ownership"},
		{"owner leaves", leave(C, acme, 1), nil, ErrNoAuthority, "member by ownership"},
		{"shares another's stream", shareIn(C, stream(beta, "f"), 1, Constraints{}), func(r *Record) { r.Issuer = gamma }, ErrNoAuthority, "stream's tenant"},
		{"unshares another's stream", unshareIn(C, stream(beta, "f"), 1), func(r *Record) { r.Issuer = acme }, ErrNoAuthority, "stream's tenant"},
		{"grants to another tenant's user", grant(u, C, RoleCommunityMember, 1), func(r *Record) { r.Issuer = acme }, ErrNoAuthority, "own users"},
		{"revokes another tenant's user", revokeRole(u, "", RoleCommunityMember, 1), func(r *Record) { r.Issuer = acme }, ErrNoAuthority, "own users"},

		{"accepted at expiry", accept(C, "i", beta, 1), func(r *Record) { r.Time = r.Expires }, ErrExpired, "after the invitation expired"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			if c.change != nil {
				c.change(&r)
			}
			err := Check(r)
			wantErr(t, err, c.want)
			if !strings.Contains(err.Error(), c.detail) || !strings.Contains(err.Error(), r.Kind.String()) {
				t.Errorf("error %q should name the kind and say %q", err, c.detail)
			}
			// Apply rejects exactly what Check rejects, leaving the state as it was.
			s := build(t, created(C2, 1))
			got, err2 := Apply(s, r)
			wantErr(t, err2, c.want)
			sameState(t, got, s)
		})
	}
}

func TestErrorNamesTheKey(t *testing.T) {
	r := grant(UserID{Tenant: beta, Name: "ana"}, C, RoleCommunityMember, 1)
	r.Issuer = "evil\nline"
	err := Check(r)
	for _, want := range []string{"role.granted", `issuer="evil\nline"`, `community="acme/c1"`, `user="beta/ana"`, `role="community-member"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	r = confirm(C, "inv1", beta, 1)
	r.Issuer = gamma
	if err := Check(r); !strings.Contains(err.Error(), `invitation="inv1" tenant="beta"`) {
		t.Errorf("%q lacks the invitation and tenant", err)
	}
	r = shareIn(C, stream(beta, "flow"), 1, Constraints{})
	r.Issuer = gamma
	if err := Check(r); !strings.Contains(err.Error(), `stream="beta/flow"`) {
		t.Errorf("%q lacks the stream", err)
	}
}
