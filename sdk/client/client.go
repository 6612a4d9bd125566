package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/internal/fsutil"
	"github.com/kitbuild/kit/sdk/internal/wire"
	"github.com/kitbuild/kit/sdk/proto/pluginv1"
)

// Protocol is the newest plugin protocol version this client speaks.
const Protocol = wire.Protocol

// BinaryPrefix starts the file name of every plugin binary: kit-plugin-NAME.
const BinaryPrefix = "kit-plugin-"

// LogFunc receives one structured log entry from a plugin. level is one of
// "trace", "debug", "info", "warn", "error"; fields are the entry's key/value
// pairs as JSON decodes them (numbers are float64). Entries logged by
// go-plugin itself (warnings and errors only) carry the field
// "source": "go-plugin".
type LogFunc func(level, msg string, fields map[string]any)

// Option sets an optional setting of Start and StartInProcess.
type Option func(*config)

type config struct {
	checksum     []byte
	log          LogFunc
	startTimeout time.Duration
	env          []string
	versions     []int
}

// WithChecksum makes Start refuse to run the binary unless its sha256 is sum
// (the error wraps ErrChecksumMismatch).
func WithChecksum(sum []byte) Option {
	return func(c *config) { c.checksum = append([]byte(nil), sum...) }
}

// WithLogger forwards the plugin's structured logs to f. f may be called
// from several goroutines, but not concurrently for one client.
func WithLogger(f LogFunc) Option {
	return func(c *config) { c.log = f }
}

// WithStartTimeout bounds the time the plugin has to start and complete the
// handshake (default 1 minute).
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) { c.startTimeout = d }
}

// WithEnv adds environment variables ("K=V") to the plugin's environment;
// they override kit's own, which the plugin inherits otherwise.
func WithEnv(env ...string) Option {
	return func(c *config) { c.env = append(c.env, env...) }
}

// Sentinel errors, wrapped in the *Error a call returns.
var (
	// ErrChecksumMismatch: the binary is not the one the lock file pins.
	ErrChecksumMismatch = errors.New("plugin binary does not match its pinned sha256")
	// ErrIncompatibleProtocol: plugin and host share no protocol version.
	ErrIncompatibleProtocol = errors.New("no protocol version in common")
	// ErrPluginExited: the plugin process died (crashed, was killed).
	ErrPluginExited = errors.New("plugin process exited")
	// ErrBadArtifact: an output the plugin returned failed verification.
	ErrBadArtifact = errors.New("plugin returned a bad artifact")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("plugin client closed")
)

// Error is the error of every Client call: it names the plugin, the
// component (if any) and the operation.
type Error struct {
	Plugin    string
	Kind      sdk.Kind // empty when no component is involved
	Component string
	Op        string // "start", "describe", "build"
	Err       error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %s", e.Plugin)
	if e.Component != "" {
		fmt.Fprintf(&b, ": %s %s", e.Kind, e.Component)
	}
	fmt.Fprintf(&b, ": %s: %v", e.Op, e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// BuildRequest is a format build as the host asks for it; see
// sdk.BuildRequest for the meaning of each field.
type BuildRequest struct {
	Inputs          map[string]sdk.Input
	Images          map[string]sdk.Input
	Config          json.RawMessage
	SourceDateEpoch int64
	ScratchDir      string
	Arch            string
}

// Artifact is one verified output of a format build.
type Artifact struct {
	Suffix string
	// Path is the absolute path of a regular file inside the scratch dir.
	Path string
	// Digest is "sha256:<hex>" of the file, checked by the client.
	Digest string
	// Size in bytes, checked by the client.
	Size int64
	// MediaType as the component declared it for Suffix.
	MediaType string
}

// Client is a running plugin. Its methods are safe for concurrent use.
type Client struct {
	name     string
	pc       *plugin.Client
	rpc      plugin.ClientProtocol
	conn     *wire.Conn
	protocol int
	pid      int
	stop     func() // in process: stop serving and wait
	shutdown func() // in process, connected: stop via the client, then stop

	exitMu  sync.Mutex
	exitErr string // go-plugin's account of the process exit

	descMu sync.Mutex
	desc   *sdk.Description

	closeOnce sync.Once
	closed    chan struct{}
}

func newConfig(opts []Option) *config {
	cfg := &config{startTimeout: time.Minute, versions: []int{wire.Protocol}}
	for _, o := range opts {
		o(cfg)
	}
	return cfg
}

// PluginName returns the plugin name of a binary path: its file name
// without the kit-plugin- prefix (and without .exe).
func PluginName(binary string) string {
	base := strings.TrimSuffix(filepath.Base(binary), ".exe")
	return strings.TrimPrefix(base, BinaryPrefix)
}

// FileSHA256 returns the sha256 of the file at path, the checksum a lock
// file pins for a plugin binary.
func FileSHA256(ctx context.Context, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, fsutil.Reader(ctx, f)); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// Start launches the plugin binary with go-plugin (AutoMTLS, gRPC only,
// managed, Pdeathsig SIGKILL on Linux, the host's PID passed for the
// plugin's parent watch) and completes the handshake, negotiating the
// protocol version. If ctx ends first, Start returns ctx's error and the
// process is killed as soon as go-plugin lets go of it.
func Start(ctx context.Context, binary string, opts ...Option) (*Client, error) {
	cfg := newConfig(opts)
	c := &Client{name: PluginName(binary), closed: make(chan struct{})}
	fail := func(err error) (*Client, error) {
		return nil, &Error{Plugin: c.name, Op: "start", Err: err}
	}
	abs, err := filepath.Abs(binary)
	if err != nil {
		return fail(err)
	}
	var secure *plugin.SecureConfig
	if cfg.checksum != nil {
		got, err := FileSHA256(ctx, abs)
		if err != nil {
			return fail(fmt.Errorf("checksum: %w", err))
		}
		if !bytes.Equal(got, cfg.checksum) {
			return fail(fmt.Errorf("%w: %s has sha256 %x, the lock pins %x; refusing to run it (re-lock if the change is intended)",
				ErrChecksumMismatch, abs, got, cfg.checksum))
		}
		// go-plugin checks again right before exec.
		secure = &plugin.SecureConfig{Checksum: cfg.checksum, Hash: sha256.New()}
	}

	cmd := exec.Command(abs)
	cmd.Env = append(os.Environ(), cfg.env...)
	cmd.Env = append(cmd.Env, wire.EnvParentPID+"="+strconv.Itoa(os.Getpid()))
	setPdeathsig(cmd)

	c.pc = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.VersionedPlugins(nil, cfg.versions...),
		Cmd:              cmd,
		SkipHostEnv:      true, // cmd.Env has it, with WithEnv taking precedence
		SecureConfig:     secure,
		Managed:          true,
		AutoMTLS:         true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     cfg.startTimeout,
		Logger:           c.hostLogger(filepath.Base(abs), cfg.log),
	})

	type result struct {
		rpc plugin.ClientProtocol
		raw any
		err error
	}
	done := make(chan result, 1)
	go func() {
		rpc, err := c.pc.Client()
		if err != nil {
			done <- result{err: err}
			return
		}
		raw, err := rpc.Dispense(wire.PluginName)
		done <- result{rpc: rpc, raw: raw, err: err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		go func() {
			<-done
			c.pc.Kill()
		}()
		return fail(ctx.Err())
	}
	if r.err != nil {
		c.pc.Kill()
		return fail(c.startError(r.err, abs, cfg.versions))
	}
	c.rpc = r.rpc
	c.conn = r.raw.(*wire.Conn)
	c.protocol = c.pc.NegotiatedVersion()
	if rc := c.pc.ReattachConfig(); rc != nil {
		c.pid = rc.Pid
	}
	return c, nil
}

func (c *Client) startError(err error, binary string, versions []int) error {
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("%w: the binary changed right before exec; refusing to run it", ErrChecksumMismatch)
	case strings.Contains(err.Error(), "incompatible API version"):
		return fmt.Errorf("%w: %v (this host speaks %v)", ErrIncompatibleProtocol, err, versions)
	case strings.Contains(err.Error(), "plugin exited before we could connect"):
		return fmt.Errorf("%w before the handshake%s: %v", ErrPluginExited, c.exitDetail(), err)
	case strings.Contains(err.Error(), "Unrecognized remote plugin message"):
		return fmt.Errorf("%s did not answer the plugin handshake (is it a kit plugin built with the kit SDK?): %s",
			binary, strings.Join(strings.Fields(err.Error()), " "))
	}
	return err
}

// StartInProcess serves p inside this process (go-plugin's test mode:
// gRPC over a local socket, no TLS, no child process) and connects to it.
// It is how sdktest runs plugins and how kit may run built-in formats
// without a process per build. WithChecksum and WithEnv do not apply.
func StartInProcess(ctx context.Context, p sdk.Plugin, opts ...Option) (*Client, error) {
	cfg := newConfig(opts)
	c := &Client{name: p.Name, closed: make(chan struct{})}
	fail := func(err error) (*Client, error) {
		return nil, &Error{Plugin: c.name, Op: "start", Err: err}
	}
	if cfg.checksum != nil {
		return fail(errors.New("an in-process plugin has no binary to check a checksum against"))
	}
	servers, err := wire.NewServers(p, pluginLogger(cfg.log))
	if err != nil {
		return fail(err)
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	rcCh := make(chan *plugin.ReattachConfig, 1)
	closeCh := make(chan struct{})
	go plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: wire.VersionedPlugins(servers, wire.Protocol),
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           hclog.NewNullLogger(),
		Test: &plugin.ServeTestConfig{
			Context:          serveCtx,
			ReattachConfigCh: rcCh,
			CloseCh:          closeCh,
		},
	})
	c.stop = func() {
		cancel()
		<-closeCh
	}
	// c.shutdown ends a server that a client is connected to: go-plugin's
	// Shutdown RPC stops it; cancelling the serve context as well would
	// stop it a second time, concurrently (a data race in go-plugin), so
	// that is only the fallback when the RPC does not get through.
	c.shutdown = func() {
		if c.rpc != nil {
			_ = c.rpc.Close()
		}
		select {
		case <-closeCh:
		case <-time.After(5 * time.Second):
		}
		c.stop()
	}
	var rc *plugin.ReattachConfig
	select {
	case rc = <-rcCh:
	case <-closeCh:
		cancel()
		return fail(errors.New("in-process plugin server stopped before serving"))
	case <-ctx.Done():
		c.stop()
		return fail(ctx.Err())
	}
	if !containsInt(cfg.versions, rc.ProtocolVersion) {
		c.stop()
		return fail(fmt.Errorf("%w: plugin speaks %d, host asks for %v", ErrIncompatibleProtocol, rc.ProtocolVersion, cfg.versions))
	}
	c.pc = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.VersionedPlugins(nil, rc.ProtocolVersion)[rc.ProtocolVersion],
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
	})
	rpc, err := c.pc.Client()
	if err != nil {
		c.stop()
		return fail(err)
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		_ = rpc.Close()
		c.stop()
		return fail(err)
	}
	c.rpc = rpc
	c.conn = raw.(*wire.Conn)
	c.protocol = rc.ProtocolVersion
	return c, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Name returns the plugin's name: from the binary's file name for Start,
// sdk.Plugin.Name for StartInProcess.
func (c *Client) Name() string { return c.name }

// Protocol returns the negotiated protocol version.
func (c *Client) Protocol() int { return c.protocol }

// Describe returns the plugin's description. The first successful answer is
// cached; the returned value must not be modified.
func (c *Client) Describe(ctx context.Context) (*sdk.Description, error) {
	c.descMu.Lock()
	defer c.descMu.Unlock()
	if c.desc != nil {
		return c.desc, nil
	}
	if c.isClosed() {
		return nil, &Error{Plugin: c.name, Op: "describe", Err: ErrClosed}
	}
	resp, err := c.conn.Plugin.Describe(ctx, &pluginv1.DescribeRequest{})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			// Describe writes nothing: no need to stop the plugin.
			return nil, &Error{Plugin: c.name, Op: "describe", Err: ctxErr}
		}
		return nil, &Error{Plugin: c.name, Op: "describe", Err: c.rpcError(ctx, err)}
	}
	d, err := fromProtoDescription(resp)
	if err != nil {
		return nil, &Error{Plugin: c.name, Op: "describe", Err: err}
	}
	c.desc = d
	return d, nil
}

// BuildFormat runs the format component and verifies its outputs: exactly
// the component's declared suffixes, each a regular file inside
// req.ScratchDir (no symlinks) whose sha256 and size are what the plugin
// claimed. If ctx ends before the plugin answers, BuildFormat closes the
// client (killing the plugin, so nothing keeps writing to the scratch dir)
// and returns ctx's error; the client is unusable afterwards. A plugin
// process that dies during the build gives an error wrapping
// ErrPluginExited, and the client is closed too.
func (c *Client) BuildFormat(ctx context.Context, component string, req BuildRequest) ([]Artifact, error) {
	fail := func(err error) ([]Artifact, error) {
		return nil, &Error{Plugin: c.name, Kind: sdk.KindFormat, Component: component, Op: "build", Err: err}
	}
	desc, err := c.Describe(ctx)
	if err != nil {
		return fail(errors.Unwrap(err))
	}
	comp, ok := desc.Component(sdk.KindFormat, component)
	if !ok {
		return fail(fmt.Errorf("the plugin has no format %q", component))
	}
	scratch, err := filepath.Abs(req.ScratchDir)
	if err != nil {
		return fail(err)
	}
	resp, err := c.conn.Format.Build(ctx, &pluginv1.BuildRequest{
		Component:       component,
		Inputs:          toProtoInputs(req.Inputs),
		Images:          toProtoInputs(req.Images),
		Config:          req.Config,
		SourceDateEpoch: req.SourceDateEpoch,
		ScratchDir:      scratch,
		Arch:            req.Arch,
	})
	if err != nil {
		return fail(c.rpcError(ctx, err))
	}
	arts, err := verify(ctx, comp, scratch, resp.GetArtifacts())
	if err != nil {
		return fail(err)
	}
	return arts, nil
}

// rpcError turns a failed call into the error to report, closing the client
// when the plugin is gone or the caller gave up on it.
func (c *Client) rpcError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		_ = c.Close()
		return ctxErr
	}
	if c.isClosed() {
		return ErrClosed
	}
	st, _ := status.FromError(err)
	if st.Code() == codes.Unavailable || st.Code() == codes.Canceled {
		// The connection broke: the process died (or is dying). Close
		// waits for its exit, after which go-plugin has told us how.
		_ = c.Close()
		return fmt.Errorf("%w%s: %s", ErrPluginExited, c.exitDetail(), st.Message())
	}
	return errors.New(st.Message())
}

// Close stops the plugin: it asks the process to exit, kills it if it does
// not within go-plugin's grace period (2 s), and waits until it is gone.
// Close is idempotent.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		if c.shutdown != nil { // in process
			c.shutdown()
			return
		}
		c.pc.Kill()
	})
	return nil
}

// CloseAll closes every plugin client started with Start that is still
// running (go-plugin's managed clients). Call it on the way out of a
// program, e.g. deferred in main; Close remains the normal way.
func CloseAll() {
	plugin.CleanupClients()
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func (c *Client) setExit(s string) {
	c.exitMu.Lock()
	c.exitErr = s
	c.exitMu.Unlock()
}

func (c *Client) exitDetail() string {
	c.exitMu.Lock()
	defer c.exitMu.Unlock()
	if c.exitErr == "" {
		return ""
	}
	return " (" + c.exitErr + ")"
}

func toProtoInputs(in map[string]sdk.Input) map[string]*pluginv1.Input {
	out := make(map[string]*pluginv1.Input, len(in))
	for k, v := range in {
		out[k] = &pluginv1.Input{Path: v.Path, Digest: v.Digest, Ref: v.Ref}
	}
	return out
}

// hexDigest returns the hex part of a "sha256:<hex>" digest.
func hexDigest(d string) (string, bool) {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 {
		return "", false
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", false
	}
	return h, true
}

// Pid returns the plugin process's ID, 0 for an in-process plugin.
func (c *Client) Pid() int { return c.pid }
