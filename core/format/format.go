package format

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/kitbuild/kit/core/graph"
)

// Names of the outputs of the assemble step that a format reads.
const (
	RootfsOutput  = "rootfs.tar"
	RecipeOutput  = "rootfs.recipe"
	KernelOutput  = "kernel"
	CmdlineOutput = "cmdline"
	UCodeOutput   = "ucode.cpio"
)

// Input is what a format works from: the outputs of the assemble step.
//
// Rootfs is a normalized tar (see docs/engine.md) that also holds
// boot/kernel, boot/cmdline and, when the kernel has microcode,
// boot/ucode.cpio; Kernel, Cmdline and UCode are the same files as separate
// blobs. An output that is absent has a zero value (empty Digest).
//
// Needs holds the results of the other nodes a format works from besides
// the assemble step (the planner wires them, see Op.Needs), by the name the
// format needs each one by; it is nil for formats that need nothing else.
type Input struct {
	Rootfs graph.Output
	// RootfsRecipe is the root filesystem as the assemble step describes
	// it (core/recipe), for formats that implement RecipeReader: they get
	// it instead of Rootfs.
	RootfsRecipe graph.Output
	Kernel       graph.Output
	Cmdline      graph.Output
	UCode        graph.Output
	Needs        map[string]graph.Result
}

// Has reports whether o is present (has a digest).
func Has(o graph.Output) bool { return o.Digest != "" }

// InputFrom picks a format's Input out of the result of an assemble step
// (or of the rootfs step that writes its recipe out). rootfs.tar or
// rootfs.recipe is required; kernel, cmdline and ucode.cpio are optional.
func InputFrom(r graph.Result) (Input, error) {
	var in Input
	in.Rootfs, _ = r.Get(RootfsOutput)
	in.RootfsRecipe, _ = r.Get(RecipeOutput)
	if !Has(in.Rootfs) && !Has(in.RootfsRecipe) {
		return Input{}, fmt.Errorf("format input %s: no %s or %s output", r.Key.Short(), RootfsOutput, RecipeOutput)
	}
	in.Kernel, _ = r.Get(KernelOutput)
	in.Cmdline, _ = r.Get(CmdlineOutput)
	in.UCode, _ = r.Get(UCodeOutput)
	return in, nil
}

// Options are the settings of one run of a format.
type Options struct {
	// SourceDateEpoch clamps every time the format records (seconds since
	// 1970; graph.Env.SourceDateEpoch).
	SourceDateEpoch int64 `json:"sourceDateEpoch"`
	// Config is the format's own configuration, a JSON object (nil when
	// there is none). Formats that take none reject a non-empty one.
	Config json.RawMessage `json:"config,omitempty"`
	// Arch is the target architecture as GOARCH names it ("amd64",
	// "arm64"); empty means amd64. It is not among the op's params: the
	// target platform enters every cache key through graph.Env.
	Arch string `json:"arch,omitempty"`
}

// Format writes one kind of artifact.
type Format interface {
	// Name is the name users select the format by ("kernel+initrd").
	Name() string
	// Version is the implementation version: change it whenever the output
	// for the same input and options changes (including dependency upgrades
	// that change compressed bytes).
	Version() string
	// Outputs lists the suffixes of the files the format writes, in the
	// order Write returns them (".tar", "-kernel", "-initrd.img", ...).
	// The CLI writes each as DIR/<name><suffix>.
	Outputs() []string
	// Write produces the outputs through x. Each returned Output is named by
	// its suffix. An output may be a blob that is already in the store (an
	// input, renamed) instead of a new copy.
	Write(ctx context.Context, x graph.Exec, in Input, opts Options) ([]graph.Output, error)
}

// RecipeReader is implemented by formats that read the root filesystem
// from the assemble step's recipe (Input.RootfsRecipe). The others get the
// tar written out (Input.Rootfs), by a rootfs step the planner adds.
type RecipeReader interface {
	Format
	ReadsRecipe()
}

// ConfigValidator is implemented by formats that take a configuration; Op
// calls it when the cache key is computed, so a bad configuration fails
// before any work starts. Formats that do not implement it accept no
// configuration at all.
type ConfigValidator interface {
	ValidateConfig(config json.RawMessage) error
}

// PluginFormat is implemented by formats served by a plugin: the plugin's
// binary digest and protocol version then enter the cache key.
type PluginFormat interface {
	Format
	Plugin() (binaryDigest graph.Digest, protocol int)
}

// EmptyConfig reports whether a configuration is absent: nil, empty, JSON
// null or {}.
func EmptyConfig(c json.RawMessage) bool {
	c = bytes.TrimSpace(c)
	if len(c) == 0 || string(c) == "null" {
		return true
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(c, &m) == nil && len(m) == 0
}

func validateConfig(f Format, c json.RawMessage) error {
	if v, ok := f.(ConfigValidator); ok {
		if err := v.ValidateConfig(c); err != nil {
			return fmt.Errorf("format %s: config: %w", f.Name(), err)
		}
		return nil
	}
	if !EmptyConfig(c) {
		return fmt.Errorf("format %s takes no configuration, got %s", f.Name(), bytes.TrimSpace(c))
	}
	return nil
}
