// Package graph is the hub of kit's build engine: the vertices of a build
// DAG, the operations they run, their content-addressed cache keys, and the
// artifacts they exchange. It does no I/O and imports only the standard
// library; the scheduler (core/solver), the store (core/cache) and every step
// (core/steps/...) are siblings that depend on it.
package graph
