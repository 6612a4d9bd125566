// Package plugin is the host side of kit's plugins: it finds kit-plugin-NAME
// binaries, learns what they serve (describe, cached by binary checksum),
// pins and verifies their checksums, starts them under the SDK's managed
// client, and adapts the format components they serve to core/format, so
// that the planner runs them as ordinary, cached format steps.
package plugin
