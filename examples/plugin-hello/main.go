package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kitbuild/kit/sdk"
)

func main() {
	sdk.Serve(sdk.Plugin{
		Name:    "hello",
		Version: "0.1.0",
		Formats: []sdk.Format{hello{}},
	})
}

// hello is the "hello" output format.
type hello struct{}

// config is the format's configuration, as a spec's output block gives it.
type config struct {
	// Greeting is the file's first line.
	Greeting string `json:"greeting"`
}

// schema is the JSON Schema of config; kit validates a spec against it
// before any work starts.
const schema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "greeting": {"type": "string", "description": "First line of the file.", "default": "hello"}
  },
  "additionalProperties": false
}`

func (hello) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:         "hello",
		Version:      "1",
		Outputs:      []sdk.Output{{Suffix: "-hello.txt", MediaType: "text/plain; charset=utf-8"}},
		Needs:        []string{sdk.InputRootfs},
		ConfigSchema: json.RawMessage(schema),
	}
}

func (hello) Build(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	cfg := config{Greeting: "hello"}
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return nil, err
	}
	rootfs, ok := req.Inputs[sdk.InputRootfs]
	if !ok {
		return nil, fmt.Errorf("no %s input", sdk.InputRootfs)
	}
	req.Log.Info("listing the root filesystem", "rootfs", rootfs.Digest)

	var entries []*tar.Header
	err := sdk.WalkTar(ctx, rootfs.Path, func(h *tar.Header, _ io.Reader) error {
		entries = append(entries, h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Sorted by name, so the output does not depend on archive order:
	// outputs must be byte-identical for identical inputs.
	name := func(h *tar.Header) string { return strings.TrimPrefix(h.Name, "./") }
	sort.SliceStable(entries, func(i, j int) bool { return name(entries[i]) < name(entries[j]) })

	var b strings.Builder
	fmt.Fprintf(&b, "%s from kit-plugin-hello\narch: %s\nentries: %d\n", cfg.Greeting, req.Arch, len(entries))
	for _, h := range entries {
		fmt.Fprintf(&b, "%c %04o %8d %s\n", typeChar(h.Typeflag), h.Mode&0o7777, h.Size, name(h))
	}
	out := filepath.Join(req.ScratchDir, "hello.txt")
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	req.Log.Debug("wrote the listing", "entries", len(entries))
	return []sdk.File{{Suffix: "-hello.txt", Path: out}}, nil
}

func typeChar(t byte) byte {
	switch t {
	case tar.TypeDir:
		return 'd'
	case tar.TypeSymlink:
		return 'l'
	case tar.TypeLink:
		return 'h'
	case tar.TypeChar:
		return 'c'
	case tar.TypeBlock:
		return 'b'
	case tar.TypeFifo:
		return 'p'
	default:
		return '-'
	}
}
