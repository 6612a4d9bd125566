package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/spec"
)

// Kind is the step kind of Op.
const Kind = "runtime"

// version is the implementation version of Op; the OCI runtime-spec version
// it writes is part of it, so upgrading the library changes every key.
var version = "1/oci-" + specs.Version

// Output names and media type.
const (
	ConfigName  = "config.json"
	RuntimeName = "runtime.json"
	MediaType   = "application/json"
)

// Op is the "runtime" step: it writes the config.json and runtime.json of
// one container bundle. It has no inputs.
type Op struct {
	// Entry is the container entry with its image's label merged in.
	Entry *spec.Image
	// Image is the image's own config.
	Image ImageConfig
	// IDs resolves uid/gid names (AllocateIDs of the whole system).
	IDs IDs
	// Placement, when set, adds the root filesystem mounts to runtime.json
	// (see WithPlacement).
	Placement *Placement
}

var _ graph.Op = Op{}

// Kind returns "runtime".
func (Op) Kind() string { return Kind }

// Version returns the implementation version.
func (Op) Version() string { return version }

// params is the canonical form of an Op. The uid/gid names of the entry are
// replaced by the numbers they resolve to (User), so that the key depends on
// the ids this container uses and not on the rest of the system's names.
type params struct {
	Entry     *spec.Image `json:"entry"`
	Image     ImageConfig `json:"image"`
	User      specs.User  `json:"user"`
	Readonly  bool        `json:"readonly"`
	Placement *Placement  `json:"placement,omitempty"`
}

// Params returns the canonical JSON of the op. It fails on an entry that
// Generate would refuse, so bad input is reported when the plan is made.
func (o Op) Params() ([]byte, error) {
	if o.Entry == nil {
		return nil, fmt.Errorf("runtime: %w: no container entry", ErrInvalid)
	}
	g := generator{entry: o.Entry}
	user, err := g.user(o.IDs)
	if err != nil {
		return nil, err
	}
	return json.Marshal(params{
		Entry:     o.Entry,
		Image:     o.Image,
		User:      user,
		Readonly:  o.Entry.Readonly != nil && *o.Entry.Readonly,
		Placement: o.Placement,
	})
}

// Exec generates the two files and writes them into the store, config.json
// first.
func (o Op) Exec(ctx context.Context, x graph.Exec, _ []graph.Result) ([]graph.Output, error) {
	var opts []Option
	if o.Placement != nil {
		opts = append(opts, WithPlacement(*o.Placement))
	}
	oci, rt, err := Generate(o.Entry, o.Image, o.IDs, opts...)
	if err != nil {
		return nil, err
	}
	var outs []graph.Output
	for _, f := range []struct {
		name string
		v    any
	}{{ConfigName, oci}, {RuntimeName, rt}} {
		b, err := Marshal(f.v)
		if err != nil {
			return nil, fmt.Errorf("runtime %q: %s: %w", o.Entry.Name, f.name, err)
		}
		out, err := write(ctx, x, f.name, b)
		if err != nil {
			return nil, fmt.Errorf("runtime %q: %s: %w", o.Entry.Name, f.name, err)
		}
		outs = append(outs, out)
	}
	return outs, nil
}

func write(ctx context.Context, x graph.Exec, name string, b []byte) (graph.Output, error) {
	w, err := x.Create(ctx)
	if err != nil {
		return graph.Output{}, err
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return graph.Output{}, err
	}
	return w.Commit(name, MediaType, "")
}

// Marshal encodes v as kit writes bundle files: JSON indented by two
// spaces, object keys in struct order and map keys sorted, no HTML
// escaping, and a trailing newline.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
