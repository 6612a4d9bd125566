package format_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/format"
	ft "github.com/kitbuild/kit/core/format/formattest"
	"github.com/kitbuild/kit/core/graph"
)

// fake is a format that writes one blob per declared output (or returns
// what got says).
type fake struct {
	name, version string
	outs          []string
	got           []string // names to return instead of outs
	validate      func(json.RawMessage) error
}

func (f fake) Name() string      { return f.name }
func (f fake) Version() string   { return f.version }
func (f fake) Outputs() []string { return f.outs }
func (f fake) Write(ctx context.Context, x graph.Exec, in format.Input, opts format.Options) ([]graph.Output, error) {
	names := f.outs
	if f.got != nil {
		names = f.got
	}
	var outs []graph.Output
	for _, n := range names {
		o, err := format.WriteBlob(ctx, x, n, format.MediaTypeText, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "%s %s %d", n, in.Rootfs.Digest, opts.SourceDateEpoch)
			return err
		})
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	return outs, nil
}

type validating struct{ fake }

func (v validating) ValidateConfig(c json.RawMessage) error { return v.validate(c) }

type plugin struct{ fake }

func (plugin) Plugin() (graph.Digest, int) { return graph.FromBytes([]byte("plugin")), 3 }

func init() {
	format.MustRegister(fake{name: "test-a", version: "1", outs: []string{".a", "-b"}})
	format.MustRegister(fake{name: "test-bad", version: "1", outs: []string{".a", "-b"}, got: []string{"-b", ".a"}})
	format.MustRegister(validating{fake{name: "test-cfg", version: "7", outs: []string{".c"}, validate: func(c json.RawMessage) error {
		var v struct{ Size int }
		if err := json.Unmarshal(c, &v); err != nil || v.Size <= 0 {
			return errors.New("size must be positive")
		}
		return nil
	}}})
	format.MustRegister(plugin{fake{name: "test-plugin", version: "1", outs: []string{".p"}}})
}

func TestRegister(t *testing.T) {
	tests := []struct {
		f    format.Format
		want string
	}{
		{fake{name: "", outs: []string{".x"}}, "invalid name"},
		{fake{name: " x", outs: []string{".x"}}, "invalid name"},
		{fake{name: "test-none"}, "lists no outputs"},
		{fake{name: "test-dup-suffix", outs: []string{".x", ".x"}}, `duplicate output suffix ".x"`},
		{fake{name: "test-slash", outs: []string{"/x"}}, `invalid or duplicate output suffix "/x"`},
		{fake{name: "test-a", outs: []string{".x"}}, "test-a: already registered"},
	}
	for _, tc := range tests {
		err := format.Register(tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Register(%q): %v, want %q", tc.f.Name(), err, tc.want)
		}
	}
	if _, ok := format.Lookup("test-none"); ok {
		t.Error("a refused format was registered")
	}
	names := format.Names()
	if !slices.IsSorted(names) || !slices.Contains(names, "test-a") || !slices.Contains(names, "test-plugin") {
		t.Errorf("Names() = %q", names)
	}
	_, err := format.Get("nope")
	if !errors.Is(err, format.ErrUnknown) || !strings.Contains(err.Error(), "test-a") {
		t.Errorf("Get(nope): %v", err)
	}
}

func TestEmptyConfig(t *testing.T) {
	for c, want := range map[string]bool{"": true, " null ": true, "{}": true, "{ }": true, `{"a":1}`: false, "[]": false, "3": false} {
		if got := format.EmptyConfig(json.RawMessage(c)); got != want {
			t.Errorf("EmptyConfig(%q) = %v", c, got)
		}
	}
}

func TestNewOp(t *testing.T) {
	tests := []struct {
		name, config, want string
	}{
		{"nope", "", "unknown output format"},
		{"test-a", `{"size":1}`, `format test-a takes no configuration, got {"size":1}`},
		{"test-cfg", `{"size":0}`, "format test-cfg: config: size must be positive"},
		{"test-cfg", ``, "format test-cfg: config: size must be positive"},
	}
	for _, tc := range tests {
		_, err := format.NewOp(tc.name, format.Options{Config: json.RawMessage(tc.config)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewOp(%s, %s): %v, want %q", tc.name, tc.config, err, tc.want)
		}
	}
	op, err := format.NewOp("test-a", format.Options{Config: json.RawMessage("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := op.(graph.PluginOp); ok || op.Kind() != format.Kind {
		t.Errorf("built-in op %T kind %s", op, op.Kind())
	}
	pop, err := format.NewOp("test-plugin", format.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := pop.(graph.PluginOp); !ok {
		t.Fatalf("plugin format op %T is not a graph.PluginOp", pop)
	}
	plan, err := graph.NewPlan(graph.Env{Platform: "linux/amd64"}, graph.NewVertex("p", pop))
	if err != nil {
		t.Fatal(err)
	}
	if c := plan.Targets[0].Components.Plugin; !strings.Contains(c, "protocol=3") {
		t.Errorf("plugin key component %q", c)
	}
}

func TestParams(t *testing.T) {
	params := func(name, config string, epoch int64) string {
		t.Helper()
		p, err := format.Op{Format: name, Options: format.Options{SourceDateEpoch: epoch, Config: json.RawMessage(config)}}.Params()
		if err != nil {
			t.Fatal(err)
		}
		return string(p)
	}
	if got, want := params("test-a", "", 5), `{"format":"test-a","version":"1","options":{"sourceDateEpoch":5,"config":{}}}`; got != want {
		t.Errorf("params %s, want %s", got, want)
	}
	if a, b := params("test-a", "", 0), params("test-a", " null", 0); a != b {
		t.Errorf("absent configs differ: %s %s", a, b)
	}
	a := params("test-cfg", `{"size": 10, "b": [1, 2.50]}`, 0)
	if b := params("test-cfg", "{\"b\":[1,2.50],\n\"size\":10}", 0); a != b {
		t.Errorf("equal configs differ:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, `"version":"7"`) || !strings.Contains(a, `"config":{"b":[1,2.50],"size":10}`) {
		t.Errorf("params %s", a)
	}
	if b := params("test-cfg", `{"size": 11}`, 0); a == b {
		t.Error("different configs give equal params")
	}
	if _, err := (format.Op{Format: "nope"}).Params(); !errors.Is(err, format.ErrUnknown) {
		t.Errorf("params of unknown format: %v", err)
	}
}

func TestExec(t *testing.T) {
	x := ft.NewExec(t)
	in := ft.Assembled(t, x, ft.System{Entries: []ft.Entry{ft.File("a", "a", 0o644)}})
	result := graph.Result{Key: graph.FromBytes([]byte("k")), Outputs: []graph.Output{in.Rootfs}}
	ctx := context.Background()

	outs, err := format.Op{Format: "test-a", Options: format.Options{SourceDateEpoch: 9}}.Exec(ctx, x, []graph.Result{result})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[0].Name != ".a" || outs[1].Name != "-b" {
		t.Fatalf("outputs %v", outs)
	}
	if got, want := string(x.Read(t, outs[0])), fmt.Sprintf(".a %s 9", in.Rootfs.Digest); got != want {
		t.Errorf("blob %q, want %q", got, want)
	}

	tests := []struct {
		name   string
		format string
		inputs []graph.Result
		want   string
	}{
		{"wrong order", "test-bad", []graph.Result{result}, `format test-bad: output 0 is "-b", declared ".a"`},
		{"no input", "test-a", nil, "want 1 input (assemble), have 0"},
		{"zero key", "test-a", []graph.Result{{Outputs: []graph.Output{in.Rootfs}}}, ""},
		{"missing rootfs", "test-a", []graph.Result{{Key: result.Key}}, "no rootfs.tar or rootfs.recipe output"},
		{"unknown", "nope", []graph.Result{result}, "unknown output format"},
	}
	for _, tc := range tests {
		_, err := format.Op{Format: tc.format}.Exec(ctx, x, tc.inputs)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestInputFrom(t *testing.T) {
	d := graph.FromBytes
	r := graph.Result{Outputs: []graph.Output{
		{Name: "kernel", Digest: d([]byte("k"))},
		{Name: "rootfs.tar", Digest: d([]byte("r"))},
		{Name: "cmdline", Digest: d([]byte("c"))},
	}}
	in, err := format.InputFrom(r)
	if err != nil {
		t.Fatal(err)
	}
	if in.Rootfs.Digest != d([]byte("r")) || in.Kernel.Digest != d([]byte("k")) || in.Cmdline.Digest != d([]byte("c")) || format.Has(in.UCode) {
		t.Errorf("input %+v", in)
	}
}
