package sdk

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// newSlog returns a *slog.Logger whose records go to l (and from there, as
// JSON on stderr, to the host).
func newSlog(l hclog.Logger) *slog.Logger {
	return slog.New(&hclogHandler{l: l})
}

// hclogHandler is a slog.Handler writing to an hclog.Logger; groups become
// dotted key prefixes.
type hclogHandler struct {
	l      hclog.Logger
	attrs  []any // flattened key/value pairs from WithAttrs
	prefix string
}

var _ slog.Handler = (*hclogHandler)(nil)

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l < slog.LevelDebug:
		return hclog.Trace
	case l < slog.LevelInfo:
		return hclog.Debug
	case l < slog.LevelWarn:
		return hclog.Info
	case l < slog.LevelError:
		return hclog.Warn
	default:
		return hclog.Error
	}
}

func (h *hclogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return hclogLevel(l) >= h.l.GetLevel()
}

func (h *hclogHandler) Handle(_ context.Context, r slog.Record) error {
	kv := append([]any(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		kv = appendAttr(kv, h.prefix, a)
		return true
	})
	h.l.Log(hclogLevel(r.Level), r.Message, kv...)
	return nil
}

func (h *hclogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]any(nil), h.attrs...)
	for _, a := range attrs {
		n.attrs = appendAttr(n.attrs, h.prefix, a)
	}
	return &n
}

func (h *hclogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

func appendAttr(kv []any, prefix string, a slog.Attr) []any {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return kv
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			kv = appendAttr(kv, p, g)
		}
		return kv
	}
	return append(kv, prefix+a.Key, a.Value.Any())
}

// BuildDoneMessage is the log line a plugin writes at the end of every
// build call, with BuildDoneField set to the call's scratch directory; the
// host uses it to know that every log line of the call has arrived.
const (
	BuildDoneMessage = "kit: build done"
	BuildDoneField   = "kit.scratch"
)
