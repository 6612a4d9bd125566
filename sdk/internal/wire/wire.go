package wire

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/kitbuild/kit/sdk/proto/pluginv1"
)

// Protocol is the newest protocol version this SDK speaks.
const Protocol = 1

// PluginName is the name kit's services are dispensed under in every
// go-plugin PluginSet.
const PluginName = "kit"

// Handshake is the go-plugin handshake shared by kit and its plugins. The
// magic cookie keeps a plugin binary from serving when run by hand;
// ProtocolVersion is unused because both sides use VersionedPlugins.
var Handshake = plugin.HandshakeConfig{
	MagicCookieKey:   "KIT_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "d1c1f5b2e7a94c6b8f0e3a5d7c9b1e4f-kit-plugin",
}

// Conn is what the host gets for a dispensed plugin: the clients of every
// service of protocol version 1.
type Conn struct {
	Plugin pluginv1.PluginServiceClient
	Format pluginv1.FormatServiceClient
}

// Servers are the service implementations a plugin registers.
type Servers struct {
	Plugin pluginv1.PluginServiceServer
	Format pluginv1.FormatServiceServer
}

// GRPCPlugin adapts kit's services to go-plugin. On the plugin side Servers
// is set; on the host side it is nil and only GRPCClient is used.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Servers *Servers
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers kit's services on the plugin's gRPC server.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Servers == nil {
		return errors.New("kit plugin: no services to serve")
	}
	pluginv1.RegisterPluginServiceServer(s, p.Servers.Plugin)
	pluginv1.RegisterFormatServiceServer(s, p.Servers.Format)
	return nil
}

// GRPCClient returns the host's clients of kit's services over conn.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Conn{
		Plugin: pluginv1.NewPluginServiceClient(conn),
		Format: pluginv1.NewFormatServiceClient(conn),
	}, nil
}

// VersionedPlugins returns the go-plugin plugin sets for every protocol
// version in versions; servers is nil on the host side.
func VersionedPlugins(servers *Servers, versions ...int) map[int]plugin.PluginSet {
	m := make(map[int]plugin.PluginSet, len(versions))
	for _, v := range versions {
		m[v] = plugin.PluginSet{PluginName: &GRPCPlugin{Servers: servers}}
	}
	return m
}

// EnvParentPID names the environment variable in which the host passes its
// process ID; a plugin exits as soon as its parent is another process.
const EnvParentPID = "KIT_PLUGIN_PARENT_PID"

// NewServers builds the services for an sdk.Plugin (passed as p) logging to
// log. Package sdk sets it at init, so the host's client can serve a plugin
// in process without an import cycle.
var NewServers func(p any, log hclog.Logger) (*Servers, error)
