// Package pluginv1 is the Go code generated from kit's plugin protocol
// (sdk/proto/kit/plugin/v1/plugin.proto); regenerate it with
// sdk/proto/generate.sh, never edit it by hand.
package pluginv1
