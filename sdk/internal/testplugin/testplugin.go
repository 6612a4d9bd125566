package testplugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/internal/wire"
	"github.com/kitbuild/kit/sdk/proto/pluginv1"
)

// Plugin is what the binary serves.
var Plugin = sdk.Plugin{
	Name:    "testplugin",
	Version: "1.2.3",
	Formats: []sdk.Format{
		format{name: "echo", build: echo, schema: `{"type":"object","properties":{"greeting":{"type":"string"}},"additionalProperties":false}`},
		format{name: "block", build: block},
		format{name: "hang", build: hang},
		format{name: "crash", build: crash},
		format{name: "log", build: logs},
	},
	Uploads: []sdk.Uploader{upload{}},
	Runs:    []sdk.Runner{run{}},
}

type format struct {
	name   string
	schema string
	build  func(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error)
}

func (f format) Info() sdk.FormatInfo {
	info := sdk.FormatInfo{
		Name:    f.name,
		Version: "v1",
		Outputs: []sdk.Output{{Suffix: "-out.txt", MediaType: "text/plain"}, {Suffix: ".json", MediaType: "application/json"}},
		Needs:   []string{sdk.InputRootfs},
		Images:  []sdk.Image{{Name: "tools", Default: "example.com/tools:1"}},
	}
	if f.schema != "" {
		info.ConfigSchema = json.RawMessage(f.schema)
	}
	return info
}

func (f format) Build(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	return f.build(ctx, req)
}

// echo writes the greeting and /etc/hostname of the rootfs, and a JSON
// account of the request.
func echo(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	var cfg struct {
		Greeting string `json:"greeting"`
	}
	cfg.Greeting = "hello"
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return nil, err
	}
	r, err := sdk.TarFile(ctx, req.Inputs[sdk.InputRootfs].Path, "/etc/hostname")
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	host, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	txt := filepath.Join(req.ScratchDir, "out.txt")
	if err := os.WriteFile(txt, fmt.Appendf(nil, "%s %s", cfg.Greeting, host), 0o644); err != nil {
		return nil, err
	}
	meta, err := json.Marshal(map[string]any{
		"arch":   req.Arch,
		"epoch":  req.SourceDateEpoch,
		"rootfs": req.Inputs[sdk.InputRootfs].Digest,
		"tools":  req.Images["tools"].Ref,
	})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(req.ScratchDir, "meta.json"), meta, 0o644); err != nil {
		return nil, err
	}
	// A relative path is taken relative to the scratch dir.
	return []sdk.File{{Suffix: "-out.txt", Path: txt}, {Suffix: ".json", Path: "meta.json"}}, nil
}

// block waits for cancellation, as a well-behaved long build does.
func block(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	req.Log.Info("blocking")
	<-ctx.Done()
	req.Log.Info("cancelled")
	return nil, ctx.Err()
}

// hang ignores cancellation.
func hang(_ context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	req.Log.Info("hanging")
	select {}
}

// crash dies in the middle of a build.
func crash(context.Context, *sdk.BuildRequest) ([]sdk.File, error) {
	os.Exit(3)
	return nil, nil
}

// logs logs structured entries, then builds like echo.
func logs(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	req.Log.Info("hello from the plugin", "n", 42, slog.Group("g", "k", "v"))
	req.Log.Warn("careful", "path", req.ScratchDir)
	req.Log.Debug("details")
	return echo(ctx, req)
}

type upload struct{}

func (upload) Info() sdk.UploadInfo {
	return sdk.UploadInfo{Name: "bucket", Version: "v1", ConfigSchema: json.RawMessage(`{"type":"object"}`)}
}

type run struct{}

func (run) Info() sdk.RunInfo { return sdk.RunInfo{Name: "vm", Version: "v1"} }

// ServeLiar serves Plugin with a FormatService that reports a wrong digest
// for the first output of every build.
func ServeLiar() {
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: os.Stderr, JSONFormat: true})
	servers, err := wire.NewServers(Plugin, log)
	if err != nil {
		log.Error("servers", "error", err.Error())
		os.Exit(1)
	}
	servers.Format = liar{servers.Format}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.VersionedPlugins(servers, wire.Protocol),
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           log,
	})
}

type liar struct{ pluginv1.FormatServiceServer }

func (l liar) Build(ctx context.Context, req *pluginv1.BuildRequest) (*pluginv1.BuildResponse, error) {
	resp, err := l.FormatServiceServer.Build(ctx, req)
	if err == nil && len(resp.Artifacts) > 0 {
		resp.Artifacts[0].Digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	}
	return resp, err
}
