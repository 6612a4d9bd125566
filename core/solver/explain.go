package solver

import (
	"context"
	"fmt"

	"github.com/kitbuild/kit/core/graph"
)

// Explanation says whether a node of a plan would be taken from the action
// cache or executed, and why.
type Explanation struct {
	Node string    `json:"node"`
	Kind string    `json:"kind"`
	Key  graph.Key `json:"key"`
	// Hit is true when the node's result is in the action cache.
	Hit bool `json:"hit"`
	// Reasons are "cache hit" on a hit; on a miss, what changed since the
	// node's last build ("parameters changed (mode)", "input 0 changed",
	// "no previous build of this node", "--no-cache", ...).
	Reasons []string `json:"reasons"`
}

// Explain tells, without executing anything, what Solve would do with p:
// which nodes it would look at, and for each whether it hits the action
// cache or would run, and why. Like Solve it goes top-down and stops at hits,
// so the inputs of a hit are not listed. The result is in the plan's
// topological order (inputs first). Of the options only WithNoCache matters.
func Explain(ctx context.Context, store Store, p *graph.Plan, opts ...Option) ([]Explanation, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	seen := map[graph.Key]*Explanation{}
	var visit func(n *graph.Node) error
	visit = func(n *graph.Node) error {
		if _, ok := seen[n.Key]; ok {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("explain: %w", err)
		}
		e := &Explanation{Node: n.Name, Kind: n.Components.Kind, Key: n.Key}
		seen[n.Key] = e
		if !cfg.noCache {
			a, err := store.GetAction(n.Key)
			if err != nil {
				return vertexError(n, fmt.Errorf("action cache: %w", err))
			}
			if a != nil {
				e.Hit, e.Reasons = true, []string{"cache hit"}
				return nil
			}
		}
		e.Reasons = missReasons(store, n, cfg.noCache)
		for _, in := range n.Inputs {
			if err := visit(in); err != nil {
				return err
			}
		}
		return nil
	}
	for _, t := range p.Targets {
		if err := visit(t); err != nil {
			return nil, err
		}
	}
	out := make([]Explanation, 0, len(seen))
	for _, n := range p.Nodes {
		if e, ok := seen[n.Key]; ok {
			out = append(out, *e)
		}
	}
	return out, nil
}

// missReasons says why n is not in the action cache, comparing its key
// components with those of the last action recorded under its name.
func missReasons(store Store, n *graph.Node, noCache bool) []string {
	if noCache {
		return []string{"--no-cache"}
	}
	names := n.Names
	if len(names) == 0 {
		names = []string{n.Name}
	}
	var last *graph.Action
	for _, name := range names {
		a, err := store.LastAction(name)
		if err != nil {
			return []string{fmt.Sprintf("previous build unknown: %v", err)}
		}
		if a != nil {
			last = a
			break
		}
	}
	switch {
	case last == nil:
		return []string{"no previous build of this node"}
	case last.Key == n.Key:
		return []string{"previous result no longer in the cache"}
	}
	if d := n.Components.Diff(last.Components); len(d) > 0 {
		return d
	}
	return []string{"cache key changed"}
}
