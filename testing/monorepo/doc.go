// Package monorepo is kit graph build's test monorepo: twelve YAML systems
// (systems/), two kit pkg packages (packages/) and the kit.work.hcl that
// names them, beside this file; Images generates the three base images the
// systems share, to be served by a loopback registry (testing/registry)
// reached through --mirror mono.kit.test=URL.
package monorepo
