// Package solver runs a graph.Plan: lazily from the targets down, through the
// action cache of a Store, with bounded parallelism, cancellation and
// de-duplication of identical work across concurrent Solve calls.
package solver
