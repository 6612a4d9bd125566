package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/kitbuild/kit/core/solver"
)

// progress renders solver events. Its modes: "tty" (one progress bar per
// running node, finished nodes printed above), "plain" (one line per state
// change, for CI logs) and "json" (one JSON object per event).
type progress interface {
	Event(solver.Event)
	// Printf prints a line that is not an event (a warning, a summary).
	Printf(format string, args ...any)
	Close()
}

func newProgress(mode string, w io.Writer, explain bool) (progress, error) {
	switch mode {
	case "", "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && os.Getenv("CI") == "" && os.Getenv("TERM") != "dumb" {
			return newTTYProgress(w, explain), nil
		}
		return &plainProgress{w: w, explain: explain, start: time.Now()}, nil
	case "plain":
		return &plainProgress{w: w, explain: explain, start: time.Now()}, nil
	case "tty":
		return newTTYProgress(w, explain), nil
	case "json":
		return &jsonProgress{enc: json.NewEncoder(w)}, nil
	}
	return nil, fmt.Errorf("--progress: unknown mode %q (want auto, plain, tty or json)", mode)
}

// jsonEvent is the wire form of an event in --progress=json.
type jsonEvent struct {
	Time       time.Time `json:"time"`
	Type       string    `json:"type"`
	Node       string    `json:"node,omitempty"`
	Kind       string    `json:"kind,omitempty"`
	Key        string    `json:"key,omitempty"`
	Done       int64     `json:"done,omitempty"`
	Total      int64     `json:"total,omitempty"`
	Message    string    `json:"message,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"durationMs,omitempty"`
	Explain    []string  `json:"explain,omitempty"`
}

type jsonProgress struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (p *jsonProgress) Event(e solver.Event) {
	je := jsonEvent{Time: e.Time.UTC(), Type: e.Type.String(), Node: e.Node, Kind: e.Kind, Key: string(e.Key),
		Done: e.Done, Total: e.Total, Message: e.Message, DurationMS: e.Duration.Milliseconds(), Explain: e.Explain}
	if e.Err != nil {
		je.Error = e.Err.Error()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(je)
}

func (p *jsonProgress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.enc.Encode(jsonEvent{Time: time.Now().UTC(), Type: "message", Message: strings.TrimSpace(fmt.Sprintf(format, args...))})
}

func (p *jsonProgress) Close() {}

type plainProgress struct {
	mu      sync.Mutex
	w       io.Writer
	explain bool
	start   time.Time
}

func (p *plainProgress) Event(e solver.Event) {
	var line string
	switch e.Type {
	case solver.EventStart:
		line = "start    " + e.Node
	case solver.EventCached:
		line = "cached   " + e.Node
	case solver.EventDone:
		line = fmt.Sprintf("done     %s (%s)", e.Node, e.Duration.Round(time.Millisecond))
	case solver.EventError:
		line = fmt.Sprintf("error    %s: %v", e.Node, e.Err)
	case solver.EventLog:
		line = "log      " + e.Node + ": " + e.Message
	case solver.EventQueued:
		if !p.explain {
			return
		}
		line = "miss     " + e.Node
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", e.Time.Sub(p.start).Seconds(), line)
	if p.explain {
		for _, why := range e.Explain {
			fmt.Fprintf(p.w, "           because: %s\n", why)
		}
	}
}

func (p *plainProgress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

func (p *plainProgress) Close() {}

type ttyProgress struct {
	mu      sync.Mutex
	p       *mpb.Progress
	bars    map[string]*mpb.Bar
	explain bool
	// status is a bottom line that lives for the whole build: it counts the
	// steps, and it keeps mpb rendering (and so flushing the lines printed
	// above the bars) even when no step is running.
	status      *mpb.Bar
	ran, cached int
	start       time.Time
}

func newTTYProgress(w io.Writer, explain bool) *ttyProgress {
	t := &ttyProgress{
		p:       mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithRefreshRate(120*time.Millisecond)),
		bars:    map[string]*mpb.Bar{},
		explain: explain,
		start:   time.Now(),
	}
	t.status = t.p.New(0, mpb.NopStyle(),
		mpb.BarPriority(1<<30),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			t.mu.Lock()
			defer t.mu.Unlock()
			return fmt.Sprintf("kit: %d steps run, %d cached, %s", t.ran, t.cached, time.Since(t.start).Round(100*time.Millisecond))
		})),
	)
	return t
}

func (t *ttyProgress) Event(e solver.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch e.Type {
	case solver.EventStart:
		t.bars[e.Node] = t.p.AddBar(0,
			mpb.PrependDecorators(decor.Name(e.Node, decor.WC{W: 48, C: decor.DindentRight})),
			mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO)),
			mpb.BarRemoveOnComplete(),
		)
	case solver.EventProgress:
		if b := t.bars[e.Node]; b != nil {
			if e.Total > 0 {
				b.SetTotal(e.Total, false)
			}
			b.SetCurrent(e.Done)
		}
	case solver.EventDone, solver.EventError, solver.EventCanceled:
		if b := t.bars[e.Node]; b != nil {
			b.Abort(true)
			delete(t.bars, e.Node)
		}
		switch e.Type {
		case solver.EventDone:
			t.ran++
			fmt.Fprintf(t.p, " ✔ %s (%s)\n", e.Node, e.Duration.Round(time.Millisecond))
		case solver.EventError:
			fmt.Fprintf(t.p, " ✘ %s: %v\n", e.Node, e.Err)
		}
	case solver.EventCached:
		t.cached++
		fmt.Fprintf(t.p, " ✔ %s (cached)\n", e.Node)
	case solver.EventQueued:
		if t.explain {
			fmt.Fprintf(t.p, " · %s: miss (%s)\n", e.Node, strings.Join(e.Explain, "; "))
		}
	}
}

func (t *ttyProgress) Printf(format string, args ...any) {
	fmt.Fprintf(t.p, format, args...)
}

func (t *ttyProgress) Close() {
	t.mu.Lock()
	for _, b := range t.bars {
		b.Abort(true)
	}
	t.mu.Unlock()
	t.status.SetTotal(-1, true)
	t.p.Wait()
}
