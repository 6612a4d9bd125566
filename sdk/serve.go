package sdk

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"

	"github.com/kitbuild/kit/sdk/internal/wire"
)

func init() {
	wire.NewServers = func(p any, log hclog.Logger) (*wire.Servers, error) {
		pl, ok := p.(Plugin)
		if !ok {
			return nil, fmt.Errorf("kit plugin: %T is not an sdk.Plugin", p)
		}
		s, err := newServer(pl, log)
		if err != nil {
			return nil, err
		}
		return s.servers(), nil
	}
}

// Serve serves p over kit's plugin protocol and never returns: call it from
// main. It exits when the host closes the plugin and when the parent process
// dies (the plugin watches getppid; kit also sets Pdeathsig). Run by hand
// (without the host's handshake), the binary prints an explanation and exits
// with status 1; an invalid p (no name, a format without outputs, duplicate
// names, a config schema that is not JSON) is logged and exits with status 1.
func Serve(p Plugin) {
	// go-plugin replaces os.Stderr while serving; the logger keeps the
	// real one, which the host reads JSON log lines from.
	log := hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Trace,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	s, err := newServer(p, log)
	if err != nil {
		log.Error("invalid plugin", "error", err.Error())
		os.Exit(1)
	}
	if os.Getenv(wire.Handshake.MagicCookieKey) == wire.Handshake.MagicCookieValue {
		go watchParent(log)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.VersionedPlugins(s.servers(), wire.Protocol),
		GRPCServer:       plugin.DefaultGRPCServer,
		// go-plugin's own chatter (addresses, mTLS set-up) stays out of
		// the host's log unless it is a warning.
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	})
	os.Exit(0)
}

// watchParent exits the process when its parent is gone: the parent PID
// differs from the one the host passed (or from the one at start). This
// catches what Pdeathsig misses: a host on another OS, or a host thread
// that exits while the process lives on.
func watchParent(log hclog.Logger) {
	want := os.Getppid()
	if s := os.Getenv(wire.EnvParentPID); s != "" {
		if pid, err := strconv.Atoi(s); err == nil {
			want = pid
		}
	}
	for {
		if got := os.Getppid(); got != want {
			log.Error("the host process is gone; exiting", "parent", want, "now", got)
			os.Exit(3)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
