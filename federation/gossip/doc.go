// Package gossip runs one memberlist cluster per community, all of them on
// one gossip port per agent.
//
// # Model
//
// Each community is its own hashicorp/memberlist cluster among the agents of
// its member tenants, encrypted with that community's 32-byte key (AES-256-GCM,
// memberlist's Keyring; see Key rotation) and tagged with memberlist's packet
// label, which is the community id. A [Manager] owns the agent's single UDP
// socket and single TCP listener; [Manager.Join] adds one [Cluster] per
// community.
//
// # One port: the label demultiplexer
//
// With Config.Label set, memberlist wraps whatever transport it is given in
// its own labelWrappedTransport, which prefixes every outgoing packet and
// every outgoing stream with a label header
//
//	[244][len(label)][label bytes]
//
// and, on input, strips that header again and discards anything whose label
// differs from Config.Label (net.go ingestPacket and handleConn). The label is
// also the GCM additional data, so a packet cannot be re-labelled in flight.
// The outbound wrapping cannot be switched off; SkipInboundLabelCheck only
// changes the inbound side (it then expects NO header and assumes the label).
//
// The shared transport therefore only PEEKS: it parses the label header to
// pick the cluster and hands the bytes on unchanged, header included.
// memberlist then strips and checks the header exactly as it would from its
// own NetTransport, so its label check and authenticated-data binding stay in
// force as a second line of defence, and SkipInboundLabelCheck stays false.
// For UDP the datagram is passed on whole. For TCP the demultiplexer reads
// exactly the 2+len(label) header bytes (never more, with a deadline) and
// hands on a connection that replays those bytes before the rest of the
// stream. Stripping instead would save nothing: the replay is ten lines, and
// stripping would make correctness depend on SkipInboundLabelCheck's
// "assume the label" path.
//
// Packets and streams with an unknown or missing label are dropped and
// counted in sluice_gossip_unknown_label_total{proto}; malformed headers,
// slow streams and full queues in sluice_gossip_messages_dropped_total{reason}.
// The receive loops never block on a cluster: every hand-off is a
// select/default onto a bounded channel.
//
// # Messages
//
// [Cluster.Broadcast] wraps each message in an envelope (a kind byte and a
// random 16-byte id) and queues it on a memberlist TransmitLimitedQueue,
// which piggy-backs it on gossip packets, RetransmitMult*log10(N+1) sends
// to random members. memberlist re-gossips only its own membership messages,
// so every receiver re-queues a message the first time it sees its id (as
// serf does with its user events); the ids of the last 8192 messages are
// remembered to drop duplicates. That makes delivery epidemic: about half a
// second for 50 agents on loopback with DefaultTiming.
//
// A message too large for one packet ([Cluster.MaxPacketMessage], about
// 1.3 KB) is instead sent once over an encrypted TCP stream to every member
// alive when the sender gets to it, and is not re-gossiped.
//
// Both paths are best effort. A member that misses a message (it was down,
// partitioned, or unlucky) gets the information from the next push/pull of
// [Delegate.LocalState], which is the federation layer's full record set and
// so the anti-entropy of last resort. Duplicates are rare but possible (an
// id evicted from the de-duplication window): deliveries must be idempotent,
// which Sluice's signed last-writer-wins records are.
//
// # Membership
//
// Failure detection is memberlist's (SWIM with Lifeguard). Members and
// events report alive, dead (failed) and left. memberlist v0.7.0 does not
// expose suspicion through its public API (Node.State is shadowed by its
// internal nodeState.State and never set, and there is no suspect event), so
// a suspected member reads as alive until it is declared dead.
//
// memberlist itself cannot tell its user whether a node left or failed (the
// same Node.State problem), so a leaving node first re-advertises itself with
// a "leaving" flag in its node metadata ([Cluster.Leave]), waits for that to
// be gossiped, then broadcasts memberlist's leave. Peers classify a departure
// as left when the last metadata they saw carried the flag.
//
// memberlist never re-joins a dead node by itself once it has stopped
// gossiping to it. Each Cluster runs a rejoin loop that, with exponential
// backoff, pushes/pulls with the last known address of every member it saw
// fail, and with the seeds while it is alone.
//
// # Key rotation
//
// When a member is removed or leaves, the community's owner rotates the key
// so that the departed agent can no longer read new gossip or inject any.
// The federation layer generates the new key and hands it to the remaining
// confirmed members over mTLS; this package only changes keyrings. Each
// Cluster holds a keyring: a primary key, which encrypts everything it sends
// (packets, streams, push/pull) and is tried first on receipt, and secondary
// keys, which are only tried on receipt. A rotation from K1 to K2 is three
// phases, and each phase must be done on every remaining member before the
// next one starts on any:
//
//  1. [Cluster.InstallKey](K2): every member accepts K1 and K2 and still
//     sends with K1.
//  2. [Cluster.UseKey](K2): members send with K2. A member that has switched
//     is understood by one that has not (it has K2 installed) and the other
//     way round (K1 is still installed), so there is no partition.
//  3. [Cluster.RemoveKey](K1): members drop what arrives with K1.
//
// The holder of only K1 stops reading the community once the last member
// has finished phase 2 (until then members still sending with K1 carry, and
// re-gossip, everything), so the federation layer should hold back what the
// departed member must not see until then. It stops being able to inject
// into a member once that member has finished phase 3. Its packets and
// streams are then dropped before any delegate sees them and counted in
// sluice_gossip_decrypt_failures_total{community,proto}; memberlist reports
// such failures only in its log, so the counter is fed by a tap on that
// log. The departed agent is declared dead soon after (it can answer no
// probe), and the others' rejoin loop keeps knocking at its address, in
// vain, until ForgetAfter.
//
// Running a phase ahead of the barrier costs availability, not secrecy: a
// member that uses K2 before another has installed it is not understood by
// that one, and a member that removes K1 before another uses K2 no longer
// understands that one, until they catch up. A new rotation may start
// before the previous one has finished: the keyring holds any number of
// keys. The key methods are cheap, never block on the network, and are
// safe to call concurrently with everything else.
//
// An agent that restarts mid-rotation must come back with the keys it had:
// persist [Cluster.Keys] (primary first) after each phase and pass them
// back as [ClusterConfig.Key] and [ClusterConfig.SecondaryKeys]; it then
// talks to members a phase ahead of or behind it. An agent that was down
// through a whole phase needs the federation layer to bring its keyring up
// to date: one that knows only K1 cannot read members past phase 2, and
// they drop what it sends once past phase 3.
package gossip
