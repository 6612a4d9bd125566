package solver

import (
	"errors"

	"github.com/kitbuild/kit/core/graph"
)

// VertexError is the error of one node of a plan: its lookup, lock or
// execution failed. It names the node, so that the error reads
// "unpack docker.io/library/redis@sha256:…: <cause>".
type VertexError struct {
	// Node is the node's name (graph.Node.Name).
	Node string
	// Kind is the node's step kind.
	Kind string
	// Key is the node's cache key.
	Key graph.Key
	// Err is the cause.
	Err error
}

func (e *VertexError) Error() string {
	name := e.Node
	if name == "" {
		name = e.Kind + " " + e.Key.Short()
	}
	return name + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *VertexError) Unwrap() error { return e.Err }

// vertexError wraps err for n, unless it already names n.
func vertexError(n *graph.Node, err error) error {
	var ve *VertexError
	if errors.As(err, &ve) && ve.Key == n.Key {
		return err
	}
	return &VertexError{Node: n.Name, Kind: n.Components.Kind, Key: n.Key, Err: err}
}
