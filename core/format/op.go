package format

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/kitbuild/kit/core/graph"
)

// Kind is the step kind of format ops.
const Kind = "format"

// opVersion is the version of the step itself (input handling, params);
// each format has its own version in the params.
const opVersion = "1"

// Op is the "format" build step: it runs the format named Format on the
// result of its first input, an assemble step. Build it with NewOp (a
// registered format) or NewOpOf (any format, e.g. one a plugin serves) so
// that plugin formats get their plugin identity into the cache key.
type Op struct {
	Format  string
	Options Options
	// Needs names the inputs after the first, in order: the format gets
	// their results in Input.Needs under these names.
	Needs []string

	impl Format // nil: the registered format named Format
}

var _ graph.Op = Op{}

// NewOp returns the op that runs the named format. It fails for an unknown
// format or a configuration the format rejects.
func NewOp(name string, opts Options) (graph.Op, error) {
	f, err := Get(name)
	if err != nil {
		return nil, err
	}
	if err := validateConfig(f, opts.Config); err != nil {
		return nil, err
	}
	op := Op{Format: name, Options: opts}
	if pf, ok := f.(PluginFormat); ok {
		return pluginOp{Op: op, f: pf}, nil
	}
	return op, nil
}

// NewOpOf returns the op that runs f, which need not be registered (a
// format a plugin serves is looked up per build). needs names the inputs
// the op takes after the assemble step, in order (see Op.Needs). It fails
// for a configuration f rejects or a need named twice.
func NewOpOf(f Format, opts Options, needs ...string) (graph.Op, error) {
	if err := validateConfig(f, opts.Config); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, n := range needs {
		if n == "" || seen[n] {
			return nil, fmt.Errorf("format %s: empty or duplicate need %q", f.Name(), n)
		}
		seen[n] = true
	}
	op := Op{Format: f.Name(), Options: opts, Needs: append([]string(nil), needs...), impl: f}
	if pf, ok := f.(PluginFormat); ok {
		return pluginOp{Op: op, f: pf}, nil
	}
	return op, nil
}

// format returns the format the op runs.
func (o Op) format() (Format, error) {
	if o.impl != nil {
		return o.impl, nil
	}
	return Get(o.Format)
}

// Kind implements graph.Op.
func (o Op) Kind() string { return Kind }

// Version implements graph.Op.
func (o Op) Version() string { return opVersion }

// Params implements graph.Op: {"format", "version" (of the format),
// "options", "needs" (when there are any)} with the configuration in
// canonical JSON.
func (o Op) Params() ([]byte, error) {
	f, err := o.format()
	if err != nil {
		return nil, err
	}
	if err := validateConfig(f, o.Options.Config); err != nil {
		return nil, err
	}
	cfg, err := canonicalJSON(o.Options.Config)
	if err != nil {
		return nil, fmt.Errorf("format %s: config: %w", o.Format, err)
	}
	type options struct {
		SourceDateEpoch int64           `json:"sourceDateEpoch"`
		Config          json.RawMessage `json:"config"`
	}
	return json.Marshal(struct {
		Format  string   `json:"format"`
		Version string   `json:"version"`
		Options options  `json:"options"`
		Needs   []string `json:"needs,omitempty"`
	}{o.Format, f.Version(), options{o.Options.SourceDateEpoch, cfg}, o.Needs})
}

// Exec implements graph.Op. It checks that the format returned exactly the
// outputs it declares, in order.
func (o Op) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	f, err := o.format()
	if err != nil {
		return nil, err
	}
	if len(inputs) != 1+len(o.Needs) {
		return nil, fmt.Errorf("format %s: want %s (assemble%s), have %d", o.Format, plural(1+len(o.Needs), "input"), needList(o.Needs), len(inputs))
	}
	in, err := InputFrom(inputs[0])
	if err != nil {
		return nil, fmt.Errorf("format %s: %w", o.Format, err)
	}
	if len(o.Needs) > 0 {
		in.Needs = make(map[string]graph.Result, len(o.Needs))
		for i, n := range o.Needs {
			in.Needs[n] = inputs[1+i]
		}
	}
	outs, err := f.Write(ctx, x, in, o.Options)
	if err != nil {
		return nil, fmt.Errorf("format %s: %w", o.Format, err)
	}
	want := f.Outputs()
	if len(outs) != len(want) {
		return nil, fmt.Errorf("format %s: wrote %d outputs, declares %d (%v)", o.Format, len(outs), len(want), want)
	}
	for i, out := range outs {
		if out.Name != want[i] {
			return nil, fmt.Errorf("format %s: output %d is %q, declared %q", o.Format, i, out.Name, want[i])
		}
		if err := out.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("format %s: output %s: %w", o.Format, out.Name, err)
		}
	}
	return outs, nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func needList(needs []string) string {
	var b bytes.Buffer
	for _, n := range needs {
		b.WriteString(", ")
		b.WriteString(n)
	}
	return b.String()
}

// pluginOp is an Op whose format is served by a plugin.
type pluginOp struct {
	Op
	f PluginFormat
}

var _ graph.PluginOp = pluginOp{}

func (p pluginOp) Plugin() (graph.Digest, int) { return p.f.Plugin() }

// canonicalJSON re-encodes a JSON value compactly with object keys sorted;
// an absent value becomes {}.
func canonicalJSON(c json.RawMessage) (json.RawMessage, error) {
	if EmptyConfig(c) {
		return json.RawMessage("{}"), nil
	}
	d := json.NewDecoder(bytes.NewReader(c))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return json.Marshal(v)
}
