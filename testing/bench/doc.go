// Package bench measures `kit build` end to end: cold and warm builds of
// benchmark systems served by a loopback registry, timed against a proxy for
// the physical limit; run.sh runs its benchmarks and prints the table. The
// systems' kernel and the small system's init come from Debian's kernel and
// busybox-static packages when run.sh has fetched them, and are generated
// otherwise; their other images are generated.
package bench
