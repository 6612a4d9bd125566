// Package jsonschema is github.com/santhosh-tekuri/jsonschema/v6 at v6.0.3
// (Apache License 2.0, see LICENSE), copied into kit with one change: the
// meta-schemas of the drafts are compiled the first time a schema is
// checked against its meta-schema, not by an init function.
//
// Upstream's init compiles the meta-schemas of five drafts, 21,000
// allocations that cost every kit process 3 to 6 ms before main, about a
// third of a warm build, whether or not it ever reads a plugin's config
// schema. The rest of the code is upstream's, unchanged but for the import
// path of package kind; kit uses it to check plugin configurations
// (core/plugin). To move to a new upstream version, copy its non-test Go
// files, kind/ and metaschemas/ over these and apply the change in
// draft.go (compileDrafts) again.
package jsonschema
