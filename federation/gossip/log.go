package gossip

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"
)

// newMemberlistLogger bridges memberlist's *log.Logger to slog with
// slog.NewLogLogger (STYLE habit 10). memberlist writes its level as a
// "[DEBUG]", "[INFO]", "[WARN]" or "[ERR]" prefix; levelHandler turns that
// prefix back into the record's level so an operator's level filter works.
//
// tap, when not nil, sees every line first, whatever the level filter
// says: memberlist reports some events (decryption failures) only in its
// log. It runs on memberlist's goroutines, one line at a time: it must
// not block.
func newMemberlistLogger(l *slog.Logger, tap func(line string)) *log.Logger {
	ll := slog.NewLogLogger(levelHandler{l.Handler()}, slog.LevelInfo)
	if tap == nil {
		return ll
	}
	return log.New(tapWriter{ll.Writer(), tap}, "", 0)
}

// tapWriter shows each line log.Logger writes (one Write per line, under
// the Logger's lock) to tap, then passes it on.
type tapWriter struct {
	w   io.Writer
	tap func(string)
}

func (t tapWriter) Write(p []byte) (int, error) {
	t.tap(string(p))
	return t.w.Write(p)
}

// decryptFailure reports whether a memberlist log line records an inbound
// packet ("udp") or stream ("tcp") that no installed key decrypts, or a
// plaintext stream where encryption is required. memberlist v0.7.0 has no
// hook or counter for this, so the texts are its own (net.go ingestPacket
// and readStream, security.go decryptPayload); TestDecryptFailureLines and
// the rotation tests pin them. "remote error:" is a peer's failure sent
// back to us, counted by that peer.
func decryptFailure(line string) (proto string, ok bool) {
	switch {
	case strings.Contains(line, "Decrypt packet failed"):
		return "udp", true
	case strings.Contains(line, "remote error:"):
		return "", false
	case strings.Contains(line, "no installed keys could decrypt"),
		strings.Contains(line, "remote state is not encrypted"),
		strings.Contains(line, "payload is too small to decrypt"),
		strings.Contains(line, "cannot decrypt empty payload"),
		strings.Contains(line, "unsupported encryption version"):
		return "tcp", true
	}
	return "", false
}

type levelHandler struct{ h slog.Handler }

var _ slog.Handler = levelHandler{}

// Enabled cannot know the real level before the message is formatted; it
// admits the record if the inner handler takes anything at all.
func (l levelHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return l.h.Enabled(ctx, slog.LevelError)
}

func (l levelHandler) Handle(ctx context.Context, r slog.Record) error {
	level, msg := parseMemberlistLine(r.Message)
	if !l.h.Enabled(ctx, level) {
		return nil
	}
	out := slog.NewRecord(r.Time, level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
	return l.h.Handle(ctx, out)
}

func (l levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{l.h.WithAttrs(as)}
}

func (l levelHandler) WithGroup(name string) slog.Handler {
	return levelHandler{l.h.WithGroup(name)}
}

// parseMemberlistLine splits "[WARN] memberlist: text" into a level and
// "text". Lines without a known prefix are Info.
func parseMemberlistLine(s string) (slog.Level, string) {
	level := slog.LevelInfo
	for _, p := range []struct {
		prefix string
		level  slog.Level
	}{
		{"[DEBUG]", slog.LevelDebug},
		{"[INFO]", slog.LevelInfo},
		{"[WARN]", slog.LevelWarn},
		{"[ERR]", slog.LevelError},
	} {
		if rest, ok := strings.CutPrefix(s, p.prefix); ok {
			level, s = p.level, strings.TrimLeft(rest, " ")
			break
		}
	}
	s = strings.TrimPrefix(s, "memberlist: ")
	return level, s
}
