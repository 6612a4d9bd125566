// Command kit-plugin-testfmt is the plugin core/plugin's tests (and the
// e2e tests) run. Its format "greet" behaves as its config's "behaviour"
// or, when that is unset, as $KIT_TEST_PLUGIN_BEHAVIOUR says:
//
//	ok     writes greet.txt from its inputs
//	log    logs two lines, then as ok
//	crash  writes half a file, then exits with status 3 mid-build
//	hang   writes half a file, logs "hanging", then never answers (it
//	       ignores cancellation: only a kill stops it)
//
// "wrap" needs greet and wraps its output; "needy" needs initrd.img and an
// image "boot", and lists what it got. "loop-a" and "loop-b" need each
// other and "orphan" needs a format nobody serves: a host must refuse them.
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

const schema = `{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "greeting": {"type": "string", "maxLength": 40},
    "behaviour": {"enum": ["ok", "log", "crash", "hang"]},
    "diskSize": {"type": "integer", "minimum": 1}
  }
}`

type config struct {
	Greeting  string `json:"greeting"`
	Behaviour string `json:"behaviour"`
	DiskSize  int64  `json:"diskSize"`
}

type greet struct{}

func (greet) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:         "greet",
		Version:      "1",
		Outputs:      []sdk.Output{{Suffix: ".txt", MediaType: "text/plain"}},
		Needs:        []string{sdk.InputRootfs},
		ConfigSchema: json.RawMessage(schema),
	}
}

func (greet) Build(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	var c config
	if err := sdk.DecodeConfig(req.Config, &c); err != nil {
		return nil, err
	}
	if c.Behaviour == "" {
		c.Behaviour = os.Getenv("KIT_TEST_PLUGIN_BEHAVIOUR")
	}
	if c.Greeting == "" {
		c.Greeting = "hello"
	}
	out := filepath.Join(req.ScratchDir, "greet.txt")
	switch c.Behaviour {
	case "", "ok":
	case "log":
		req.Log.Info("greeting", "greeting", c.Greeting)
		req.Log.Warn("second line")
	case "crash":
		_ = os.WriteFile(out, []byte("half a fi"), 0o644)
		os.Exit(3)
	case "hang":
		_ = os.WriteFile(out, []byte("half a fi"), 0o644)
		req.Log.Info("hanging")
		select {}
	default:
		return nil, fmt.Errorf("unknown behaviour %q", c.Behaviour)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s from %s\n", c.Greeting, req.Arch)
	fmt.Fprintf(&b, "epoch %d\n", req.SourceDateEpoch)
	if c.DiskSize > 0 {
		fmt.Fprintf(&b, "diskSize %d\n", c.DiskSize)
	}
	b.WriteString(inputs(req))
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return []sdk.File{{Suffix: ".txt", Path: out}}, nil
}

// inputs lists every input and image by name with its digest.
func inputs(req *sdk.BuildRequest) string {
	var lines []string
	for n, in := range req.Inputs {
		lines = append(lines, fmt.Sprintf("input %s %s", n, in.Digest))
	}
	for n, in := range req.Images {
		lines = append(lines, fmt.Sprintf("image %s %s", n, in.Digest))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

type wrap struct{}

func (wrap) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:    "wrap",
		Version: "1",
		Outputs: []sdk.Output{{Suffix: ".wrap", MediaType: "text/plain"}, {Suffix: ".sum", MediaType: "text/plain"}},
		Needs:   []string{"greet"},
	}
}

func (wrap) Build(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	in, ok := req.Inputs["greet/.txt"]
	if !ok {
		return nil, fmt.Errorf("no greet/.txt input")
	}
	b, err := os.ReadFile(in.Path)
	if err != nil {
		return nil, err
	}
	w := filepath.Join(req.ScratchDir, "out.wrap")
	s := filepath.Join(req.ScratchDir, "out.sum")
	if err := os.WriteFile(w, append([]byte("wrapped: "), b...), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s, []byte(in.Digest+"\n"), 0o644); err != nil {
		return nil, err
	}
	return []sdk.File{{Suffix: ".sum", Path: s}, {Suffix: ".wrap", Path: w}}, nil
}

type needy struct{}

func (needy) Info() sdk.FormatInfo {
	return sdk.FormatInfo{
		Name:    "needy",
		Version: "1",
		Outputs: []sdk.Output{{Suffix: ".needy", MediaType: "text/plain"}},
		Needs:   []string{sdk.InputInitrd, sdk.InputKernel},
		Images:  []sdk.Image{{Name: "boot", Default: "registry.invalid/kit/boot:1"}},
	}
}

func (needy) Build(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	boot, ok := req.Images["boot"]
	if !ok {
		return nil, fmt.Errorf("no image boot")
	}
	var names []string
	err := sdk.WalkTar(ctx, boot.Path, func(h *tar.Header, _ io.Reader) error {
		names = append(names, h.Name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := filepath.Join(req.ScratchDir, "needy")
	text := inputs(req) + "boot holds " + strings.Join(names, " ") + "\n"
	if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return []sdk.File{{Suffix: ".needy", Path: out}}, nil
}

// broken is a format whose needs cannot be met.
type broken struct{ name, need string }

func (b broken) Info() sdk.FormatInfo {
	return sdk.FormatInfo{Name: b.name, Version: "1", Outputs: []sdk.Output{{Suffix: ".x"}}, Needs: []string{b.need}}
}

func (b broken) Build(context.Context, *sdk.BuildRequest) ([]sdk.File, error) {
	return nil, fmt.Errorf("%s cannot be built", b.name)
}

func main() {
	sdk.Serve(sdk.Plugin{
		Name:    "testfmt",
		Version: "1.0.0",
		Formats: []sdk.Format{greet{}, wrap{}, needy{},
			broken{"loop-a", "loop-b"}, broken{"loop-b", "loop-a"}, broken{"orphan", "no-such-format"}},
	})
}
