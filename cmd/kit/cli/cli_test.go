package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/solver"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"1234", 1234, false},
		{"10GB", 10_000_000_000, false},
		{"512MiB", 512 << 20, false},
		{"-1", 0, true},
		{"lots", 0, true},
	} {
		got, err := parseBytes(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestJSONProgress(t *testing.T) {
	var buf bytes.Buffer
	p, err := newProgress("json", &buf, false)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p.Event(solver.Event{Time: at, Type: solver.EventError, Node: "unpack x", Kind: "unpack", Err: errors.New("bad entry"), Duration: 1500 * time.Millisecond})
	p.Event(solver.Event{Time: at, Type: solver.EventCached, Node: "format tar", Kind: "format", Explain: []string{"cache hit"}})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %q", len(lines), buf.String())
	}
	var ev jsonEvent
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "error" || ev.Node != "unpack x" || ev.Error != "bad entry" || ev.DurationMS != 1500 || !ev.Time.Equal(at) {
		t.Errorf("first event = %+v", ev)
	}
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil || ev.Type != "cached" || ev.Explain[0] != "cache hit" {
		t.Errorf("second event = %+v, %v", ev, err)
	}
}

func TestPlainProgress(t *testing.T) {
	var buf bytes.Buffer
	p, _ := newProgress("plain", &buf, true)
	p.Event(solver.Event{Time: time.Now(), Type: solver.EventQueued, Node: "assemble", Explain: []string{"input 2 changed"}})
	p.Event(solver.Event{Time: time.Now(), Type: solver.EventProgress, Node: "assemble", Done: 1, Total: 2})
	p.Event(solver.Event{Time: time.Now(), Type: solver.EventDone, Node: "assemble", Duration: time.Second})
	out := buf.String()
	for _, want := range []string{"miss     assemble", "because: input 2 changed", "done     assemble (1s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "progress") {
		t.Errorf("plain output shows progress events:\n%s", out)
	}
	if _, err := newProgress("fancy", &buf, false); err == nil {
		t.Error("unknown progress mode accepted")
	}
}

func TestBuildFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--mirror", "nope", "x.yml"}, `--mirror "nope": want REGISTRY=URL`},
		{[]string{"build", "--source-date-epoch", "yesterday", "x.yml"}, `SOURCE_DATE_EPOCH "yesterday"`},
		{[]string{"build", "--progress", "fancy", "x.yml"}, `unknown mode "fancy"`},
		{[]string{"build"}, "requires at least 1 arg"},
	} {
		var out, errOut bytes.Buffer
		root := newRoot(&out, &errOut)
		root.SetArgs(tc.args)
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}
