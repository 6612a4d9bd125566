package graphbuild

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kitbuild/kit/core/graph"
)

// Graph is the DAG of a selection with the cache status of every node,
// as kit graph show prints it.
type Graph struct {
	// Nodes are in topological order (inputs first).
	Nodes []GraphNode `json:"nodes"`
	// Units are the systems and packages, each with its target nodes.
	Units []GraphUnit `json:"units"`
}

// GraphNode is a node of the graph.
type GraphNode struct {
	// ID is the node's index in Graph.Nodes.
	ID   int       `json:"id"`
	Name string    `json:"name"`
	Kind string    `json:"kind"`
	Key  graph.Key `json:"key"`
	// Cache is "hit" when the node's result is in the action cache, else
	// "miss".
	Cache string `json:"cache"`
	// Run is true when a build would execute the node: a miss that some
	// target needs (a miss below hits is never looked at).
	Run bool `json:"run"`
	// Inputs are the IDs of the node's inputs, in order.
	Inputs []int `json:"inputs"`
	// Users are the systems and packages whose plans hold the node
	// ("system web", "package tools"), sorted.
	Users []string `json:"users"`
}

// GraphUnit is a system or package of the graph.
type GraphUnit struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Formats []string `json:"formats,omitempty"`
	Ref     string   `json:"ref,omitempty"`
	// Targets are the IDs of the unit's target nodes (one per format, or
	// the package's image).
	Targets []int `json:"targets"`
	// Error is why the unit could not be planned.
	Error string `json:"error,omitempty"`
}

// Show plans the selection (resolving images through the lock files, as
// a build does, but building nothing) and returns its graph with the cache
// status of every node.
func Show(ctx context.Context, ws *Workspace, sel *Selection, o Options) (*Graph, error) {
	o.KeepGoing = true // show what can be planned
	pl, err := prepare(ctx, ws, sel, o)
	if err != nil {
		return nil, err
	}
	defer pl.close()
	ex, err := pl.session.Explain(ctx, pl.plan)
	if err != nil {
		return nil, err
	}
	run := map[graph.Key]bool{}
	for _, e := range ex {
		run[e.Key] = e.Status == "run"
	}
	g := &Graph{}
	ids := map[graph.Key]int{}
	for i, n := range pl.plan.Nodes {
		ids[n.Key] = i
		gn := GraphNode{ID: i, Name: n.Name, Kind: n.Components.Kind, Key: n.Key, Cache: "miss", Run: run[n.Key], Inputs: []int{}, Users: []string{}}
		a, err := pl.store.GetAction(n.Key)
		if err != nil {
			return nil, fmt.Errorf("node %s: action cache: %w", n.Name, err)
		}
		if a != nil {
			gn.Cache = "hit"
		}
		for _, in := range n.Inputs {
			gn.Inputs = append(gn.Inputs, ids[in.Key])
		}
		g.Nodes = append(g.Nodes, gn)
	}
	for _, u := range pl.units {
		gu := GraphUnit{Name: u.row.Name, Kind: u.row.Kind, Formats: u.row.Formats, Ref: u.row.Ref, Targets: []int{}}
		if u.err != nil {
			gu.Error = u.err.Error()
			g.Units = append(g.Units, gu)
			continue
		}
		up, err := graph.NewPlan(pl.session.Env(), u.targets...)
		if err != nil {
			return nil, err
		}
		for _, t := range up.Targets {
			gu.Targets = append(gu.Targets, ids[t.Key])
		}
		for _, n := range up.Nodes {
			gn := &g.Nodes[ids[n.Key]]
			if user := u.row.Kind + " " + u.row.Name; !contains(gn.Users, user) {
				gn.Users = append(gn.Users, user)
			}
		}
		g.Units = append(g.Units, gu)
	}
	for i := range g.Nodes {
		sort.Strings(g.Nodes[i].Users)
	}
	return g, nil
}

// WriteJSON writes the graph as one indented JSON object.
func (g *Graph) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(g)
}

// WriteText writes one line per node, "STATUS KIND NAME" with STATUS
// "hit", "run" (a miss a build would execute) or "miss" (not needed), and
// the units using it; then one line per unit.
func (g *Graph) WriteText(w io.Writer) error {
	for _, n := range g.Nodes {
		if _, err := fmt.Fprintf(w, "%-4s  %-9s %s  [%s]\n", n.status(), n.Kind, n.Name, strings.Join(n.Users, ", ")); err != nil {
			return err
		}
	}
	for _, u := range g.Units {
		what := strings.Join(u.Formats, ",")
		if u.Kind == KindPackage {
			what = u.Ref
		}
		line := fmt.Sprintf("%s %s: %s", u.Kind, u.Name, what)
		if u.Error != "" {
			line += ": error: " + u.Error
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

func (n GraphNode) status() string {
	switch {
	case n.Cache == "hit":
		return "hit"
	case n.Run:
		return "run"
	}
	return "miss"
}

// WriteDot writes the graph in Graphviz's dot language: one node per
// graph node, filled by status (hit green, run orange, miss grey), an
// edge from each input to its user, and a box per system or package
// pointing at its targets.
func (g *Graph) WriteDot(w io.Writer) error {
	var b strings.Builder
	b.WriteString("digraph kit {\n")
	b.WriteString("  rankdir=LR;\n")
	b.WriteString("  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];\n")
	colors := map[string]string{"hit": "#b7e1b0", "run": "#ffd39b", "miss": "#e0e0e0"}
	for _, n := range g.Nodes {
		label := n.Name + "\\n" + n.status() + " · " + n.Key.Short()
		fmt.Fprintf(&b, "  n%d [label=%s, fillcolor=%s, tooltip=%s];\n", n.ID, dotString(label), dotString(colors[n.status()]), dotString(string(n.Key)))
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			fmt.Fprintf(&b, "  n%d -> n%d;\n", in, n.ID)
		}
	}
	for i, u := range g.Units {
		label := u.Kind + " " + u.Name
		if u.Error != "" {
			label += "\\nerror"
		}
		fmt.Fprintf(&b, "  u%d [label=%s, shape=folder, fillcolor=\"#cfe2ff\"];\n", i, dotString(label))
		for _, t := range u.Targets {
			fmt.Fprintf(&b, "  n%d -> u%d [style=dashed];\n", t, i)
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// dotString quotes s as a dot ID: a double-quoted string in which only
// '"' needs escaping. A backslash is kept when it starts one of dot's
// escapes (\n in labels), else doubled.
func dotString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\' && i+1 < len(s) && s[i+1] == 'n':
			b.WriteString(`\n`)
			i++
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c < 0x20:
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
