// Package graphbuild builds the systems of a monorepo as one DAG (kit graph
// build): it discovers specs (*.kit.hcl files, YAML specs named in a
// kit.work.hcl or found under a ./dir/... pattern) and kit pkg packages,
// binds the image references of specs to packages built in the same graph,
// plans every system into one core/build Session so that shared nodes run
// once, selects the systems affected by a git change, and reports per
// system. It also renders the graph (text, JSON, Graphviz dot) and exports
// Bazel targets.
package graphbuild
