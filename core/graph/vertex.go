package graph

import (
	"errors"
	"fmt"
	"sort"
)

// Vertex is a node of the build DAG: an op applied to the results of other
// vertices. Vertices are immutable once built; share them to share work.
type Vertex struct {
	// Name is a stable, human-readable identity for the node across builds
	// ("unpack docker.io/library/redis@sha256:…", "assemble redis-os"). It
	// labels progress and lets explain compare a node with its previous run.
	Name   string
	Op     Op
	Inputs []*Vertex
}

// NewVertex returns a vertex running op on the results of inputs.
func NewVertex(name string, op Op, inputs ...*Vertex) *Vertex {
	return &Vertex{Name: name, Op: op, Inputs: inputs}
}

// Node is a vertex of a plan, with its key computed and identical vertices
// merged.
type Node struct {
	Key        Key
	Name       string
	Op         Op
	Components KeyComponents
	Inputs     []*Node
	// Names holds every vertex name that was merged into this node.
	Names []string
}

// Plan is a DAG with keys: every distinct piece of work appears once, in a
// topological order (inputs before users).
type Plan struct {
	Env     Env
	Nodes   []*Node
	Targets []*Node
	byKey   map[Key]*Node
}

// ErrCycle is returned when the vertices do not form a DAG.
var ErrCycle = errors.New("graph: cycle")

// NewPlan computes the keys of every vertex reachable from targets and
// merges vertices whose keys are equal, so identical work runs once.
func NewPlan(env Env, targets ...*Vertex) (*Plan, error) {
	p := &Plan{Env: env, byKey: map[Key]*Node{}}
	done := map[*Vertex]*Node{}
	visiting := map[*Vertex]bool{}
	var visit func(v *Vertex) (*Node, error)
	visit = func(v *Vertex) (*Node, error) {
		if n, ok := done[v]; ok {
			return n, nil
		}
		if visiting[v] {
			return nil, fmt.Errorf("%w through %q", ErrCycle, v.Name)
		}
		if v.Op == nil {
			return nil, fmt.Errorf("graph: vertex %q has no op", v.Name)
		}
		visiting[v] = true
		defer delete(visiting, v)
		inputs := make([]*Node, len(v.Inputs))
		keys := make([]Key, len(v.Inputs))
		for i, in := range v.Inputs {
			n, err := visit(in)
			if err != nil {
				return nil, err
			}
			inputs[i], keys[i] = n, n.Key
		}
		params, err := v.Op.Params()
		if err != nil {
			return nil, fmt.Errorf("graph: params of %q: %w", v.Name, err)
		}
		c := KeyComponents{
			Kind:     v.Op.Kind(),
			Version:  v.Op.Version(),
			Params:   params,
			Inputs:   keys,
			Platform: env.Platform,
			Epoch:    env.SourceDateEpoch,
		}
		if po, ok := v.Op.(PluginOp); ok {
			d, proto := po.Plugin()
			c.Plugin = fmt.Sprintf("%s/protocol=%d", d, proto)
		}
		key := c.Sum()
		n, ok := p.byKey[key]
		if ok {
			if !contains(n.Names, v.Name) {
				n.Names = append(n.Names, v.Name)
			}
		} else {
			n = &Node{Key: key, Name: v.Name, Op: v.Op, Components: c, Inputs: inputs, Names: []string{v.Name}}
			p.byKey[key] = n
			p.Nodes = append(p.Nodes, n)
		}
		done[v] = n
		return n, nil
	}
	for _, t := range targets {
		n, err := visit(t)
		if err != nil {
			return nil, err
		}
		p.Targets = append(p.Targets, n)
	}
	return p, nil
}

// Node returns the node with the given key.
func (p *Plan) Node(k Key) (*Node, bool) {
	n, ok := p.byKey[k]
	return n, ok
}

// Users returns, for each node, the nodes that consume it.
func (p *Plan) Users() map[*Node][]*Node {
	u := map[*Node][]*Node{}
	for _, n := range p.Nodes {
		for _, in := range n.Inputs {
			if !containsNode(u[in], n) {
				u[in] = append(u[in], n)
			}
		}
	}
	return u
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsNode(list []*Node, n *Node) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

func sortStrings(s []string) { sort.Strings(s) }
