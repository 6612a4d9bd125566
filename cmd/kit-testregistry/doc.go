// Command kit-testregistry serves an in-memory OCI registry on loopback for
// kit's demos and scripts. -seed pushes imagegen's demo images into it;
// -seed-spec pushes a synthetic image for every image reference of a spec,
// under the reference's repository path, so that the spec builds with
// `kit build --mirror docker.io=http://ADDR`.
package main
