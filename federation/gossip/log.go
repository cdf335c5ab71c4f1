package gossip

import (
	"context"
	"log"
	"log/slog"
	"strings"
)

// newMemberlistLogger bridges memberlist's *log.Logger to slog with
// slog.NewLogLogger (STYLE habit 10). memberlist writes its level as a
// "[DEBUG]", "[INFO]", "[WARN]" or "[ERR]" prefix; levelHandler turns that
// prefix back into the record's level so an operator's level filter works.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(levelHandler{l.Handler()}, slog.LevelInfo)
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
