// Package bench measures `kit build` end to end: cold and warm builds of
// generated systems served by a loopback registry, timed against a proxy for
// the physical limit; run.sh runs its benchmarks and prints the table.
package bench
