package graph

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type fakeOp struct {
	kind, version string
	params        string
	plugin        Digest
	err           error
}

func (o fakeOp) Kind() string    { return o.kind }
func (o fakeOp) Version() string { return o.version }
func (o fakeOp) Params() ([]byte, error) {
	return []byte(o.params), o.err
}
func (o fakeOp) Exec(context.Context, Exec, []Result) ([]Output, error) { return nil, nil }

type fakePluginOp struct{ fakeOp }

func (o fakePluginOp) Plugin() (Digest, int) { return o.plugin, 3 }

func op(params string) fakeOp { return fakeOp{kind: "k", version: "1", params: params} }

func TestParseDigest(t *testing.T) {
	good := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in, err string
	}{
		{good, ""},
		{"sha512:" + strings.Repeat("ab", 32), "only sha256"},
		{"sha256:abc", "want 64 hex digits"},
		{"sha256:" + strings.Repeat("AB", 32), "invalid character"},
		{"", "only sha256"},
	} {
		d, err := ParseDigest(tc.in)
		if tc.err == "" {
			if err != nil || string(d) != tc.in {
				t.Errorf("ParseDigest(%q) = %q, %v", tc.in, d, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseDigest(%q) error = %v, want %q", tc.in, err, tc.err)
		}
	}
	if got := Digest(good).Short(); got != "abababababab" {
		t.Errorf("Short = %q", got)
	}
	dg := NewDigester()
	dg.Write([]byte("hello"))
	if dg.Digest() != FromBytes([]byte("hello")) {
		t.Error("Digester and FromBytes disagree")
	}
}

func TestKeySensitivity(t *testing.T) {
	base := KeyComponents{Kind: "unpack", Version: "1", Params: json.RawMessage(`{"mode":"init"}`),
		Inputs: []Key{FromBytes([]byte("a"))}, Platform: "linux/amd64", Epoch: 0}
	k := base.Sum()
	if k != base.Sum() {
		t.Fatal("Sum is not deterministic")
	}
	changes := map[string]func(c *KeyComponents){
		"kind":     func(c *KeyComponents) { c.Kind = "fetch" },
		"version":  func(c *KeyComponents) { c.Version = "2" },
		"plugin":   func(c *KeyComponents) { c.Plugin = "x" },
		"params":   func(c *KeyComponents) { c.Params = json.RawMessage(`{"mode":"container"}`) },
		"input":    func(c *KeyComponents) { c.Inputs = []Key{FromBytes([]byte("b"))} },
		"no input": func(c *KeyComponents) { c.Inputs = nil },
		"platform": func(c *KeyComponents) { c.Platform = "linux/arm64" },
		"epoch":    func(c *KeyComponents) { c.Epoch = 1 },
		// Length prefixes keep field boundaries: moving bytes between
		// adjacent fields must change the key.
		"boundary": func(c *KeyComponents) { c.Kind, c.Version = "unpack1", "" },
	}
	for name, change := range changes {
		c := base
		c.Inputs = append([]Key(nil), base.Inputs...)
		change(&c)
		if c.Sum() == k {
			t.Errorf("%s: key did not change", name)
		}
	}
}

func TestDiff(t *testing.T) {
	old := KeyComponents{Kind: "runtime", Version: "1", Params: json.RawMessage(`{"a":1,"b":2}`),
		Inputs: []Key{"x", "y"}, Platform: "linux/amd64"}
	c := old
	c.Params = json.RawMessage(`{"a":1,"b":3,"c":4}`)
	c.Inputs = []Key{"x", "z"}
	c.Epoch = 5
	got := strings.Join(c.Diff(old), "; ")
	want := "parameters changed (b, c); input 1 changed; SOURCE_DATE_EPOCH 0 → 5"
	if got != want {
		t.Errorf("Diff = %q, want %q", got, want)
	}
	if d := old.Diff(old); len(d) != 0 {
		t.Errorf("Diff of equal components = %v", d)
	}
}

func TestPlanMergesIdenticalWork(t *testing.T) {
	// Two separately built but identical fetch→unpack chains, used by two
	// targets, become one chain.
	f1 := NewVertex("fetch a", op("fa"))
	f2 := NewVertex("fetch a (again)", op("fa"))
	u1 := NewVertex("unpack a for x", op("u"), f1)
	u2 := NewVertex("unpack a for y", op("u"), f2)
	other := NewVertex("unpack b", op("u"), NewVertex("fetch b", op("fb")))
	t1 := NewVertex("target 1", op("t"), u1, other)
	t2 := NewVertex("target 2", op("t2"), u2)
	p, err := NewPlan(Env{Platform: "linux/amd64"}, t1, t2)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes) != 6 {
		t.Fatalf("plan has %d nodes, want 6 (fetch a, unpack a, fetch b, unpack b, 2 targets)", len(p.Nodes))
	}
	if p.Targets[0].Inputs[0] != p.Targets[1].Inputs[0] {
		t.Error("identical unpack vertices were not merged")
	}
	n := p.Targets[0].Inputs[0]
	if strings.Join(n.Names, ",") != "unpack a for x,unpack a for y" {
		t.Errorf("merged names = %v", n.Names)
	}
	// Topological order: every input precedes its user.
	pos := map[*Node]int{}
	for i, n := range p.Nodes {
		pos[n] = i
	}
	for _, n := range p.Nodes {
		for _, in := range n.Inputs {
			if pos[in] >= pos[n] {
				t.Errorf("%s comes before its input %s", n.Name, in.Name)
			}
		}
	}
	if users := p.Users()[n]; len(users) != 2 {
		t.Errorf("unpack a has %d users, want 2", len(users))
	}
	if got, ok := p.Node(n.Key); !ok || got != n {
		t.Error("Node lookup by key failed")
	}
}

func TestPlanKeysDependOnEnvAndPlugin(t *testing.T) {
	v := NewVertex("x", op("p"))
	a, _ := NewPlan(Env{Platform: "linux/amd64"}, v)
	b, _ := NewPlan(Env{Platform: "linux/arm64"}, v)
	c, _ := NewPlan(Env{Platform: "linux/amd64", SourceDateEpoch: 9}, v)
	if a.Targets[0].Key == b.Targets[0].Key || a.Targets[0].Key == c.Targets[0].Key {
		t.Error("platform or epoch did not enter the key")
	}
	p1, _ := NewPlan(Env{}, NewVertex("p", fakePluginOp{fakeOp{kind: "format", version: "1", plugin: "sha256:aa"}}))
	p2, _ := NewPlan(Env{}, NewVertex("p", fakePluginOp{fakeOp{kind: "format", version: "1", plugin: "sha256:bb"}}))
	if p1.Targets[0].Key == p2.Targets[0].Key {
		t.Error("plugin digest did not enter the key")
	}
	if p1.Targets[0].Components.Plugin != "sha256:aa/protocol=3" {
		t.Errorf("plugin component = %q", p1.Targets[0].Components.Plugin)
	}
}

func TestPlanErrors(t *testing.T) {
	a := &Vertex{Name: "a", Op: op("a")}
	b := &Vertex{Name: "b", Op: op("b"), Inputs: []*Vertex{a}}
	a.Inputs = []*Vertex{b}
	if _, err := NewPlan(Env{}, b); !errors.Is(err, ErrCycle) {
		t.Errorf("cycle: err = %v", err)
	}
	if _, err := NewPlan(Env{}, &Vertex{Name: "empty"}); err == nil || !strings.Contains(err.Error(), `"empty" has no op`) {
		t.Errorf("no op: err = %v", err)
	}
	bad := fakeOp{kind: "k", err: errors.New("boom")}
	if _, err := NewPlan(Env{}, NewVertex("bad", bad)); err == nil || !strings.Contains(err.Error(), "params of \"bad\": boom") {
		t.Errorf("params error: err = %v", err)
	}
}

func TestResultGet(t *testing.T) {
	r := Result{Outputs: []Output{{Name: "a", Size: 1}, {Name: "b", Size: 2}}}
	if o, ok := r.Get("b"); !ok || o.Size != 2 {
		t.Errorf("Get(b) = %v, %v", o, ok)
	}
	if _, ok := r.Get("c"); ok {
		t.Error("Get(c) found something")
	}
}
