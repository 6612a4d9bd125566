// Command kit-plugin-liar serves kit's plugin protocol without the SDK's
// server, so that it can answer what the SDK never would: its format "liar"
// reports a digest that is not its output's. core/plugin's tests use it to
// check that the host refuses such an answer and keeps nothing of it.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/kitbuild/kit/sdk/proto/pluginv1"
)

// handshake is the SDK's (sdk/internal/wire).
var handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "KIT_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "d1c1f5b2e7a94c6b8f0e3a5d7c9b1e4f-kit-plugin",
}

type server struct {
	pluginv1.UnimplementedPluginServiceServer
	pluginv1.UnimplementedFormatServiceServer
}

func (server) Describe(context.Context, *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	return &pluginv1.DescribeResponse{
		Name: "liar", Version: "0.1", Protocol: 1,
		Components: []*pluginv1.Component{{
			Kind: pluginv1.Kind_KIND_FORMAT, Name: "liar", Version: "1",
			Detail: &pluginv1.Component_Format{Format: &pluginv1.FormatDetail{
				Outputs: []*pluginv1.Output{{Suffix: ".bin", MediaType: "application/octet-stream"}},
			}},
		}},
	}, nil
}

func (server) Build(_ context.Context, req *pluginv1.BuildRequest) (*pluginv1.BuildResponse, error) {
	p := filepath.Join(req.GetScratchDir(), "liar.bin")
	content := []byte("what the plugin wrote\n")
	if err := os.WriteFile(p, content, 0o644); err != nil {
		return nil, err
	}
	lie := sha256.Sum256([]byte("what the plugin claims\n"))
	return &pluginv1.BuildResponse{Artifacts: []*pluginv1.Artifact{{
		Suffix: ".bin", Path: p, Digest: "sha256:" + hex.EncodeToString(lie[:]), Size: int64(len(content)),
		MediaType: "application/octet-stream",
	}}}, nil
}

type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterPluginServiceServer(s, server{})
	pluginv1.RegisterFormatServiceServer(s, server{})
	return nil
}

func (grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: map[int]plugin.PluginSet{1: {"kit": grpcPlugin{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
