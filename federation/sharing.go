package federation

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-edge/sluice/configs"
	"github.com/sluice-edge/sluice/policy"
)

// Share is a stream shared into a community or over a connection.
type Share struct {
	Tenant     policy.TenantID `json:"tenant"`
	TenantName string          `json:"tenant_name,omitempty"`
	Stream     string          `json:"stream"`
	Limits
	Paused bool `json:"paused"`
}

// Limits are a share's constraints as partners and users read them: RFC
// 3339 times and durations, "" for none.
type Limits struct {
	HistoryFrom string `json:"history_from,omitempty"`
	Lookback    string `json:"lookback,omitempty"`
	Expires     string `json:"expires,omitempty"`
	MinInterval string `json:"min_interval,omitempty"`
}

func limitsOf(c policy.Constraints) Limits {
	var out Limits
	if c.NotBefore != 0 {
		out.HistoryFrom = time.Unix(0, c.NotBefore).UTC().Format(time.RFC3339)
	}
	if c.Lookback != 0 {
		out.Lookback = configs.Duration(c.Lookback).String()
	}
	if c.Expires != 0 {
		out.Expires = time.Unix(0, c.Expires).UTC().Format(time.RFC3339)
	}
	if c.MinInterval != 0 {
		out.MinInterval = configs.Duration(c.MinInterval).String()
	}
	return out
}

func (n *Node) shares(st policy.State, c policy.CommunityID) []Share {
	out := []Share{}
	sc := policy.Scope{Community: c}
	for _, s := range st.Shares(sc) {
		out = append(out, Share{Tenant: s.Stream.Owner, TenantName: n.tenantName(s.Stream.Owner), Stream: s.Stream.Name,
			Limits: limitsOf(s.Constraints), Paused: st.Paused(sc, s.Stream.Owner)})
	}
	return out
}

// ShareRequest shares one of this tenant's streams, within constraints.
type ShareRequest struct {
	Stream      string
	Constraints policy.Constraints
}

// Pause stops all of this tenant's sharing into a community at once.
func (n *Node) Pause(ctx context.Context, ref string) error {
	return n.pauseResume(ctx, ref, policy.KindSharingPaused)
}

// Resume restores this tenant's sharing into a community as it was.
func (n *Node) Resume(ctx context.Context, ref string) error {
	return n.pauseResume(ctx, ref, policy.KindSharingResumed)
}

func (n *Node) pauseResume(ctx context.Context, ref string, kind policy.Kind) error {
	pause := kind == policy.KindSharingPaused
	word := map[bool]string{true: "paused", false: "resumed"}[pause]
	ci, st, err := n.resolve(ref)
	if err != nil {
		return err
	}
	scope := policy.Scope{Community: ci.ID}
	if st.Paused(scope, n.self) == pause {
		return deny(409, "unchanged", "sharing into %q is already %s", ci.Name, word)
	}
	if _, err := n.issue(ctx, policy.Record{Kind: kind, Community: ci.ID}, participants(st, ci.ID)...); err != nil {
		return deny(409, rejectReason(err), "%v", err)
	}
	// Say "paused" only if the state this agent decides reads with says so.
	if n.book.snapshot().Paused(scope, n.self) != pause {
		return fmt.Errorf("sharing into %q was not %s: a record held here overrides it", ci.Name, word)
	}
	n.log.Info("sharing "+word, "community", ci.ID)
	return nil
}

// Share shares one of this tenant's streams into a community.
func (n *Node) Share(ctx context.Context, ref string, req ShareRequest) (Share, error) {
	ci, st, err := n.resolve(ref)
	if err != nil {
		return Share{}, err
	}
	if err := n.ownStream(ctx, req.Stream); err != nil {
		return Share{}, err
	}
	rec := policy.Record{Kind: policy.KindStreamShared, Community: ci.ID, Stream: policy.StreamRef{Owner: n.self, Name: req.Stream}, Constraints: req.Constraints}
	if _, err := n.issue(ctx, rec, participants(st, ci.ID)...); err != nil {
		return Share{}, deny(400, rejectReason(err), "%v", err)
	}
	n.log.Info("stream shared", "community", ci.ID, "stream", req.Stream)
	return Share{Tenant: n.self, TenantName: n.id.Name(), Stream: req.Stream, Limits: limitsOf(req.Constraints)}, nil
}

// ownStream checks that a stream to share is one of this tenant's.
func (n *Node) ownStream(ctx context.Context, stream string) error {
	if _, err := n.opts.Reader.StreamInfo(ctx, stream); err != nil {
		return deny(404, "unknown_stream", "stream %q: %v", stream, err)
	}
	return nil
}

// Unshare stops sharing a stream into a community: the partners lose it
// and its history on their next read.
func (n *Node) Unshare(ctx context.Context, ref, stream string) error {
	ci, st, err := n.resolve(ref)
	if err != nil {
		return err
	}
	sr := policy.StreamRef{Owner: n.self, Name: stream}
	found := false
	for _, s := range st.Shares(policy.Scope{Community: ci.ID}) {
		found = found || s.Stream == sr
	}
	if !found {
		return deny(404, "not_shared", "stream %q is not shared into %q", stream, ci.Name)
	}
	if _, err := n.issue(ctx, policy.Record{Kind: policy.KindStreamUnshared, Community: ci.ID, Stream: sr}, participants(st, ci.ID)...); err != nil {
		return deny(409, rejectReason(err), "%v", err)
	}
	for _, s := range n.book.snapshot().Shares(policy.Scope{Community: ci.ID}) {
		if s.Stream == sr {
			return fmt.Errorf("stream %q is still shared into %q: a record held here overrides the unshare", stream, ci.Name)
		}
	}
	n.log.Info("stream unshared", "community", ci.ID, "stream", stream)
	return nil
}
