// Package steptest helps test steps: Exec is a graph.Exec backed by a
// content-addressed store in a temporary directory, Fetch stores an in-memory
// image the way the fetch step does (outputs manifest, config, layer/N), and
// Layer, Image and the entry constructors build small images from tar
// entries.
package steptest
