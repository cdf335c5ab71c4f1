package gossip

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons for sluice_gossip_messages_dropped_total.
const (
	dropMalformedLabel   = "malformed_label" // truncated or empty label header
	dropStreamTimeout    = "stream_label_timeout"
	dropStreamBacklog    = "stream_backlog"     // too many inbound streams awaiting their label
	dropPacketQueueFull  = "packet_queue_full"  // cluster's packet channel full
	dropStreamQueueFull  = "stream_queue_full"  // cluster's stream channel full
	dropNotifyQueueFull  = "notify_queue_full"  // Delegate.NotifyMsg worker behind
	dropMergeQueueFull   = "merge_queue_full"   // Delegate.MergeRemoteState worker behind
	dropEventQueueFull   = "event_queue_full"   // nobody reading Events
	dropBroadcastPruned  = "broadcast_pruned"   // packet broadcast queue over its bound
	dropStreamOutFull    = "stream_out_full"    // oversized broadcast queue full
	dropStreamSendFailed = "stream_send_failed" // oversized broadcast to one member failed
	dropPeerRejected     = "peer_rejected"      // ClusterConfig.Admit said no
	dropMalformedMessage = "malformed_message"  // user message without a valid envelope
)

// metrics is the one metrics struct of this component (STYLE habit 10).
type metrics struct {
	reg          prometheus.Registerer // nil: unregistered
	members      *prometheus.GaugeVec
	clusters     prometheus.Gauge
	dropped      *prometheus.CounterVec
	unknownLabel *prometheus.CounterVec
	joins        *prometheus.CounterVec
	broadcasts   *prometheus.CounterVec
	decrypt      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_gossip_members",
			Help: "Alive members of a community's gossip cluster as this agent sees them, itself included.",
		}, []string{"community"}),
		clusters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sluice_gossip_clusters",
			Help: "Community gossip clusters served on this agent's gossip port.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_gossip_messages_dropped_total",
			Help: "Gossip packets, streams, messages and events dropped, by reason.",
		}, []string{"reason"}),
		unknownLabel: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_gossip_unknown_label_total",
			Help: "Inbound gossip packets (udp) and streams (tcp) dropped because their label names no community served here.",
		}, []string{"proto"}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_gossip_join_attempts_total",
			Help: "Join and rejoin attempts to seeds and lost members, by result (success: at least one reached).",
		}, []string{"result"}),
		broadcasts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_gossip_broadcasts_total",
			Help: "Messages broadcast, by path: packet (gossiped) or stream (oversized, sent to each member).",
		}, []string{"path"}),
		decrypt: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_gossip_decrypt_failures_total",
			Help: "Inbound gossip packets (udp) and streams (tcp) of a community that none of its installed keys decrypts, dropped: a peer with an old or wrong key.",
		}, []string{"community", "proto"}),
	}
	// Pre-create the series operators will alert on.
	for _, r := range []string{dropNotifyQueueFull, dropMergeQueueFull, dropPacketQueueFull} {
		m.dropped.WithLabelValues(r)
	}
	for _, p := range []string{"udp", "tcp"} {
		m.unknownLabel.WithLabelValues(p)
	}
	if reg == nil {
		return m, nil
	}
	m.reg = reg
	cs := m.collectors()
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, errors.Join(errors.New("gossip: registering metrics"), err)
		}
	}
	return m, nil
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.members, m.clusters, m.dropped, m.unknownLabel, m.joins, m.broadcasts, m.decrypt}
}

// unregister lets a later Manager register on the same registry.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}

func (m *metrics) drop(reason string) { m.dropped.WithLabelValues(reason).Inc() }
