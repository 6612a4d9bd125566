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
// result of its single input, an assemble step. Build it with NewOp so that
// plugin formats get their plugin identity into the cache key.
type Op struct {
	Format  string
	Options Options
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

// Kind implements graph.Op.
func (o Op) Kind() string { return Kind }

// Version implements graph.Op.
func (o Op) Version() string { return opVersion }

// Params implements graph.Op: {"format", "version" (of the format),
// "options"} with the configuration in canonical JSON.
func (o Op) Params() ([]byte, error) {
	f, err := Get(o.Format)
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
		Format  string  `json:"format"`
		Version string  `json:"version"`
		Options options `json:"options"`
	}{o.Format, f.Version(), options{o.Options.SourceDateEpoch, cfg}})
}

// Exec implements graph.Op. It checks that the format returned exactly the
// outputs it declares, in order.
func (o Op) Exec(ctx context.Context, x graph.Exec, inputs []graph.Result) ([]graph.Output, error) {
	f, err := Get(o.Format)
	if err != nil {
		return nil, err
	}
	if len(inputs) != 1 {
		return nil, fmt.Errorf("format %s: want 1 input (assemble), have %d", o.Format, len(inputs))
	}
	in, err := InputFrom(inputs[0])
	if err != nil {
		return nil, fmt.Errorf("format %s: %w", o.Format, err)
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
