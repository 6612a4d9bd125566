package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kitbuild/kit/core/graph"
	"github.com/kitbuild/kit/core/spec"
)

// memExec is an in-memory graph.Exec.
type memExec struct {
	mu    sync.Mutex
	blobs map[graph.Digest][]byte
}

func (m *memExec) Open(_ context.Context, d graph.Digest) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[d]
	if !ok {
		return nil, fmt.Errorf("no blob %s", d)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
func (m *memExec) Path(d graph.Digest) (string, error) { return "", errors.New("not on disk") }
func (m *memExec) Create(context.Context) (graph.BlobWriter, error) {
	return &memWriter{m: m}, nil
}
func (m *memExec) TempDir() (string, error)        { return "", errors.New("no temp dir") }
func (m *memExec) Progress(done, total int64)      {}
func (m *memExec) Logf(format string, args ...any) {}

type memWriter struct {
	m   *memExec
	buf bytes.Buffer
}

func (w *memWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }
func (w *memWriter) Close() error                { return nil }
func (w *memWriter) Commit(name, mediaType string, want graph.Digest) (graph.Output, error) {
	d := graph.FromBytes(w.buf.Bytes())
	if want != "" && d != want {
		return graph.Output{}, fmt.Errorf("digest %s, want %s", d, want)
	}
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	if w.m.blobs == nil {
		w.m.blobs = map[graph.Digest][]byte{}
	}
	w.m.blobs[d] = bytes.Clone(w.buf.Bytes())
	return graph.Output{Name: name, Digest: d, Size: int64(w.buf.Len()), MediaType: mediaType}, nil
}

func testOp() Op {
	return Op{
		Entry: entry(func(e *spec.Image) {
			e.Capabilities = strs("CAP_NET_ADMIN")
			e.UID = name("sshd")
			e.Annotations = &map[string]string{"z": "1", "a": "<&>"}
		}),
		Image:     busybox,
		IDs:       IDs{"sshd": 101},
		Placement: &Placement{Dir: "containers/services/test", Root: "containers/services/test/lower"},
	}
}

func TestOpExec(t *testing.T) {
	op := testOp()
	x := &memExec{}
	outs, err := op.Exec(context.Background(), x, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[0].Name != ConfigName || outs[1].Name != RuntimeName {
		t.Fatalf("outputs %+v, want config.json then runtime.json", outs)
	}
	oci, rt, err := Generate(op.Entry, op.Image, op.IDs, WithPlacement(*op.Placement))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []any{oci, rt} {
		want, _ := Marshal(v)
		got := x.blobs[outs[i].Digest]
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n%s\nwant\n%s", outs[i].Name, got, want)
		}
		if outs[i].Size != int64(len(got)) || outs[i].MediaType != MediaType {
			t.Errorf("output %+v", outs[i])
		}
		if !bytes.HasSuffix(got, []byte("}\n")) || !bytes.HasPrefix(got, []byte("{\n  \"")) {
			t.Errorf("%s is not 2-space indented JSON with a trailing newline:\n%s", outs[i].Name, got)
		}
	}
	cfg := string(x.blobs[outs[0].Digest])
	if !strings.Contains(cfg, `"a": "<&>"`) || strings.Index(cfg, `"a": `) > strings.Index(cfg, `"z": `) {
		t.Errorf("annotations not sorted or HTML-escaped:\n%s", cfg)
	}
	var back specs.Spec
	if err := json.Unmarshal(x.blobs[outs[0].Digest], &back); err != nil || back.Process.User.UID != 101 {
		t.Errorf("config.json does not decode back: %v %+v", err, back.Process)
	}

	// Deterministic: a second run writes the same bytes.
	outs2, err := op.Exec(context.Background(), &memExec{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "second run outputs", outs2, outs)
}

func TestOpExecError(t *testing.T) {
	op := testOp()
	op.Entry.Capabilities = strs("CAP_NOPE")
	if _, err := op.Exec(context.Background(), &memExec{}, nil); !errors.Is(err, ErrUnknownCapability) {
		t.Errorf("error %v", err)
	}
}

func TestOpParams(t *testing.T) {
	base, err := testOp().Params()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(base) {
		t.Fatalf("params are not JSON: %s", base)
	}
	again, _ := testOp().Params()
	if !bytes.Equal(base, again) {
		t.Error("params are not deterministic")
	}

	changes := map[string]func(o *Op){
		"capabilities": func(o *Op) { o.Entry.Capabilities = strs("CAP_KILL") },
		"image env":    func(o *Op) { o.Image.Env = []string{"X=1"} },
		"uid number":   func(o *Op) { o.IDs = IDs{"sshd": 102} },
		"readonly":     func(o *Op) { o.Entry.Readonly = ptr(true) },
		"placement":    func(o *Op) { o.Placement = nil },
		"gid":          func(o *Op) { o.Entry.GID = num(5) },
		"resources": func(o *Op) {
			o.Entry.Resources = &spec.Resources{Memory: &spec.Memory{DisableOOMKiller: ptr(true)}}
		},
	}
	for what, change := range changes {
		o := testOp()
		change(&o)
		p, err := o.Params()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(p, base) {
			t.Errorf("changing %s leaves the params unchanged", what)
		}
	}

	// Names of other containers do not enter the key.
	o := testOp()
	o.IDs = IDs{"sshd": 101, "getty": 102, "rngd": 103}
	if p, _ := o.Params(); !bytes.Equal(p, base) {
		t.Errorf("unrelated ids changed the params:\n%s\n%s", p, base)
	}

	o = testOp()
	o.Entry.UID = name("ghost")
	if _, err := o.Params(); !errors.Is(err, ErrUnknownID) {
		t.Errorf("params with an unknown uid name: error %v", err)
	}
}

func TestOpPlan(t *testing.T) {
	a, b := testOp(), testOp()
	p, err := graph.NewPlan(graph.Env{Platform: "linux/amd64"},
		graph.NewVertex("runtime a", a), graph.NewVertex("runtime b", b))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes) != 1 || p.Nodes[0].Components.Kind != Kind || !strings.HasPrefix(p.Nodes[0].Components.Version, "1/oci-") {
		t.Errorf("identical runtime ops should merge into one node: %+v", p.Nodes)
	}
}
