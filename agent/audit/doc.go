// Package audit is Sluice's append-only, hash-chained, signed audit log.
//
// Every administrative action and every cross-tenant read or denial is one
// Entry. Both sides of a partner read log it (Side "owner" on the owner's
// agent, "reader" on the reader's), so each tenant can show and summarise
// its own history without trusting the other.
//
// # Files
//
// A log is a directory:
//
//	<dir>/audit-000001.jsonl   segments, oldest first, one entry per line
//	<dir>/audit-000002.jsonl
//	<dir>/LOCK                 held (flock) by the one process appending
//
// A segment is UTF-8 JSON Lines: one JSON object per line, each line ended
// by '\n'. Members appear in this fixed order, and those marked * are left
// out when empty or zero:
//
//	seq         uint64, 1 for the first entry ever, +1 per entry
//	time        RFC 3339 with nanoseconds, UTC; never decreases along the chain
//	kind        admin | partner_read | read_denied | record_rejected | ... |
//	            checkpoint | retention (the last two are written by the log)
//	actor*      user or tenant that acted
//	tenant*     partner tenant id
//	community*  community the read went through
//	connection* direct connection it went through
//	stream*     stream name
//	start* end* read window, RFC 3339 UTC
//	points*     points returned
//	outcome*    allowed | denied | ok | error
//	reason*     why (denials, errors); on a checkpoint, unclean_stop (see below)
//	side*       owner | reader
//	detail*     free text; never secrets
//	anchor_seq* anchor*   retention entries: the last removed entry and its hash
//	signature*  checkpoint entries: base64 (standard, padded) signature
//	prev        hex SHA-256 of the previous entry; 64 zeros (GenesisHash) for seq 1
//	hash        hex SHA-256 of this entry's canonical bytes; always last
//
// Strings are escaped as encoding/json does without HTML escaping; invalid
// UTF-8 is replaced by U+FFFD before the entry is hashed.
//
// Canonical bytes. Every line ends with `,"hash":"<64 lowercase hex>"}`.
// An entry's canonical bytes are its line without that suffix and without
// the '\n', followed by "}", i.e. the same object with the hash member
// removed. The hash is over the bytes exactly as stored, so verifying needs
// no re-encoding (any tool can check it with a substring and SHA-256), and
// any change to a stored byte is detected.
//
// # Checkpoints
//
// The log appends a checkpoint entry (kind "checkpoint") at the end of
// every commit that holds a cross-tenant entry (a partner read or denial,
// a rejected record: CrossTenant), in the same write and fsync, so such an
// entry is signed by the time its Append returns; after CheckpointEvery
// (64) entries, or CheckpointInterval (30 s) after the last checkpoint if
// anything was appended since; when a retention pass removes segments;
// and on Close, so that a cleanly closed log has nothing unsigned. Its
// prev is the head it signs, and its signature is Signer.Sign over these
// bytes (each line ended by '\n'):
//
//	sluice audit checkpoint v1
//	seq <seq of the head, i.e. the checkpoint's seq - 1>
//	head <prev, hex>
//	time <the checkpoint's time, as in its line>
//
// A checkpoint with a reason signs "sluice audit checkpoint v2" with the
// same lines and one more, "reason <reason>", so the reason cannot be
// taken out without breaking the signature. Open writes one, with reason
// unclean_stop, before anything else when the log does not end with a
// checkpoint: the last run did not Close (a crash, kill -9, power loss),
// or the end of the log was edited while no agent held it.
//
// With the tenant's key (*identity.Tenant is a Signer; Ed25519ctx) nobody
// without the key can rewrite the log up to the last checkpoint: changing
// an entry changes its hash, re-linking the rest changes the head a later
// checkpoint signed. Entries after the last checkpoint are chained but not
// yet signed; Verify says how many, and how many an unclean_stop
// checkpoint signed late. Log.Verify, on the running log, also checks that
// the files hold the head it wrote, hash and all, which covers the
// unsigned entries too. Cutting the end of a stopped log at a checkpoint
// cannot be detected from the log alone; the partner's log can show the
// reads it lost (CompareReads), or keep the last checkpoint elsewhere.
//
// # Durability
//
// Append returns once its entry is written and fsync'd. One committer
// goroutine owns the files: it takes every Append waiting at that moment,
// writes them with one write and one fsync (group commit), and answers
// them all. Callers it has just answered are usually about to append
// again, so when fewer are waiting than last time it yields the processor
// a few times (no sleep) before it writes. A failed write or fsync makes
// the log fail every later Append (the on-disk state is then unknown);
// reopen it.
//
// After a crash the last segment may end in an incomplete line (a write
// cut short; never acknowledged). Open truncates that one incomplete line
// and continues the chain from the last complete entry; if the active
// segment holds entries but no checkpoint, a checkpoint follows at once.
// Open refuses (ErrCorrupt) if the last complete entry itself does not
// parse or does not match its hash: that is not a crash artefact, so
// someone has to look (sluice audit verify).
//
// Times come from Options.Now. If the clock steps back, entries keep the
// last entry's time until it catches up (and a warning is logged), so time
// never decreases along the chain and Verify can check that it does not.
//
// # Rotation and retention
//
// A segment is closed and the next one started when it would exceed
// SegmentSize or when the UTC day of an entry differs from that of the
// segment's first entry. A segment is removed when every entry in it is
// older than Retention, which is known without reading it because the next
// segment's first entry is older than the cutoff. The active segment is
// never removed.
//
// Removing segments leaves the first retained entry's prev pointing at an
// entry that no longer exists. Before it removes anything, the log appends
// a "retention" entry whose anchor_seq and anchor are the seq and hash of
// the last entry removed, then a checkpoint, fsyncs, and only then deletes
// the files. Verify accepts a log that starts at entry N > 1 only if some
// retention entry in the retained chain has anchor_seq N-1 and anchor equal
// to entry N's prev. The anchor thus lives in the signed chain itself, not
// in a side file an intruder could rewrite. A crash between the retention
// entry and the deletion leaves extra old segments, which verify as usual;
// the next pass removes them.
//
// # Reading
//
// Query streams entries through a filter, skipping segments by the first
// entry of the next one; it does not check hashes (Verify does) and skips,
// counting them, lines that do not parse. Tail follows new entries, woken
// by each commit (no polling). Summary turns partner reads and denials
// into one row per community, partner tenant, stream and side.
// CompareReads pairs one log's partner reads and denials with a partner's
// export of its own (ExportHeader, ReadExport).
package audit
