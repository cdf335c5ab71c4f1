package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/agent/api"
	"github.com/sluice-edge/sluice/agent/audit"
	"github.com/sluice-edge/sluice/agent/users"
	"github.com/sluice-edge/sluice/federation"
	"github.com/sluice-edge/sluice/policy"
)

// The audit log records every administrative action (any API call that
// changes something) and every cross-tenant read or denial, on both sides.

// actor names who acted: the authenticated user of the request, if any.
func actor(ctx context.Context) string {
	if p, ok := users.PrincipalFrom(ctx); ok {
		return p.User
	}
	return ""
}

// caller names the user behind a request and its roles in community c,
// for federation. Requests that reached federation passed the users
// gate, so a principal is there. Federation asks the roles only
// whether they read, manage users or administer, and vouches for them to
// partners, so they go as policy.RoleSet.Vouched: a reader as a
// community-member, which partners that predate the reader role know.
func caller(ctx context.Context, c policy.CommunityID) (string, policy.RoleSet) {
	p, ok := users.PrincipalFrom(ctx)
	if !ok {
		return "", 0
	}
	return p.User, p.RoleSet(c).Vouched()
}

// auditEvent turns a federation event into an audit entry.
func (a *Agent) auditEvent(ctx context.Context, e federation.AuditEvent) {
	if a.audit == nil {
		return
	}
	en := audit.Entry{Kind: e.Kind, Actor: e.Actor, Tenant: string(e.Tenant), Community: string(e.Community),
		Stream: e.Stream, Points: int64(e.Points), Outcome: e.Outcome, Reason: e.Reason, Side: e.Side, Detail: e.Read}
	if e.Connection {
		en.Connection, en.Community = string(e.Tenant), ""
	}
	if e.Side == audit.SideReader {
		en.Actor = actor(ctx)
	}
	if e.Start != 0 {
		en.Start = time.Unix(0, e.Start).UTC()
	}
	if e.End != 0 {
		en.End = time.Unix(0, e.End).UTC()
	}
	if err := a.audit.Append(context.WithoutCancel(ctx), en); err != nil {
		a.log.Error("audit append failed", "err", err, "kind", e.Kind)
	}
}

// auditAction records a call of an audited route (users.Route.Audited):
// who, which route with its query (the gate has taken any ?token= out),
// and the status it got. Reads of local data are not logged (they are the
// tenant's own) but for a view's exports; partner reads are, by
// federation.
func (a *Agent) auditAction(r *http.Request, code int) {
	outcome := "ok"
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		outcome = "denied"
	case code >= 400:
		outcome = "error"
	}
	e := audit.Entry{Kind: audit.KindAdmin, Actor: actor(r.Context()), Outcome: outcome,
		Reason: strconv.Itoa(code), Detail: r.Method + " " + r.URL.RequestURI()}
	if err := a.audit.Append(context.WithoutCancel(r.Context()), e); err != nil {
		a.log.Error("audit append failed", "err", err)
	}
}

// mountAudit serves the audit log on the API: entries, verification,
// the summary report and a live tail.
func (a *Agent) mountAudit() {
	h := func(pattern string, f func(http.ResponseWriter, *http.Request) error) {
		a.api.Mount(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := f(w, r); err != nil {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			}
		}))
	}
	h("GET /api/v1/audit", a.auditQuery)
	h("GET /api/v1/audit/verify", a.auditVerify)
	h("GET /api/v1/audit/report", a.auditReport)
	h("GET /api/v1/audit/tail", a.auditTail)
}

func (a *Agent) filter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	now := time.Now()
	f := audit.Filter{Community: q.Get("community"), Tenant: q.Get("tenant"), Stream: q.Get("stream"), Side: q.Get("side")}
	if c := f.Community; c != "" && a.fed != nil {
		if id, err := a.fed.ResolveCommunity(r.Context(), c); err == nil {
			f.Community = string(id)
		}
	}
	if k := q.Get("kind"); k != "" {
		f.Kinds = strings.Split(k, ",")
	}
	for key, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(key); v != "" {
			t, err := api.ParseTime(v, now)
			if err != nil {
				return f, err
			}
			*dst = time.Unix(0, t).UTC()
		}
	}
	return f, nil
}

func (a *Agent) auditQuery(w http.ResponseWriter, r *http.Request) error {
	f, err := a.filter(r)
	if err != nil {
		return err
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	n := 0
	_, err = a.audit.Query(r.Context(), f, func(e audit.Entry) bool {
		enc.Encode(e)
		n++
		return limit <= 0 || n < limit
	})
	return err
}

func (a *Agent) auditVerify(w http.ResponseWriter, r *http.Request) error {
	rep, err := a.audit.Verify(a.fed.VerifyOwn) // also checks the files against the head it holds
	if err != nil {
		return err
	}
	if r.URL.Query().Get("format") == "text" { // the report's sentences only (the CLI)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !rep.OK() {
			w.WriteHeader(http.StatusConflict)
		}
		_, err := io.WriteString(w, rep.String())
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if !rep.OK() {
		w.WriteHeader(http.StatusConflict)
	}
	return json.NewEncoder(w).Encode(map[string]any{"ok": rep.OK(), "report": rep.String(), "detail": rep})
}

// auditReport summarises partner reads per community, partner and stream
// (reads, points, denials by reason), from this side's point of view.
func (a *Agent) auditReport(w http.ResponseWriter, r *http.Request) error {
	f, err := a.filter(r)
	if err != nil {
		return err
	}
	if len(f.Kinds) == 0 {
		f.Kinds = []string{audit.KindPartnerRead, audit.KindReadDenied}
	}
	sum := audit.NewSummary(audit.ByCommunity | audit.ByTenant | audit.ByStream | audit.BySide)
	if _, err := a.audit.Query(r.Context(), f, func(e audit.Entry) bool { sum.Add(e); return true }); err != nil {
		return err
	}
	rows := sum.Rows()
	if r.URL.Query().Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		return audit.WriteCSV(w, rows)
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

// auditTail streams new entries as NDJSON until the client goes away.
func (a *Agent) auditTail(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	enc := json.NewEncoder(w)
	for e := range a.audit.Tail(r.Context(), 0) {
		if err := enc.Encode(e); err != nil {
			return nil
		}
		rc.Flush()
	}
	return nil
}
