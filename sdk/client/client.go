package client

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/kitbuild/kit/sdk"
)

// LogFunc receives one structured log entry from a plugin. level is one of
// "trace", "debug", "info", "warn", "error"; fields are the entry's key/value
// pairs as decoded from JSON (numbers are float64).
type LogFunc func(level, msg string, fields map[string]any)

// Option sets an optional setting of Start.
type Option func(*config)

type config struct {
	checksum     []byte
	log          LogFunc
	startTimeout time.Duration
	env          []string
	versions     []int
}

// WithChecksum makes Start refuse to run the binary unless its sha256 is sum.
func WithChecksum(sum []byte) Option {
	return func(c *config) { c.checksum = append([]byte(nil), sum...) }
}

// WithLogger forwards the plugin's structured logs to f.
func WithLogger(f LogFunc) Option {
	return func(c *config) { c.log = f }
}

// WithStartTimeout bounds the time the plugin has to start and complete the
// handshake (default 1 minute).
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) { c.startTimeout = d }
}

// WithEnv adds environment variables ("K=V") to the plugin's environment.
// The plugin inherits kit's environment otherwise.
func WithEnv(env ...string) Option {
	return func(c *config) { c.env = append(c.env, env...) }
}

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
	// Path is an absolute path of a regular file inside the scratch dir.
	Path string
	// Digest is "sha256:<hex>", verified by the client.
	Digest    string
	Size      int64
	MediaType string
}

// Client is a running plugin. Its methods are safe for concurrent use.
type Client struct {
	name string
}

// ErrClosed is returned by calls on a closed client.
var ErrClosed = errors.New("plugin client closed")

// Start launches the plugin binary and completes the handshake.
func Start(ctx context.Context, binary string, opts ...Option) (*Client, error) {
	return nil, errors.New("not implemented")
}

// Describe returns the plugin's description (cached after the first call).
func (c *Client) Describe(ctx context.Context) (*sdk.Description, error) {
	return nil, errors.New("not implemented")
}

// BuildFormat runs the format component and verifies its outputs.
func (c *Client) BuildFormat(ctx context.Context, component string, req BuildRequest) ([]Artifact, error) {
	return nil, errors.New("not implemented")
}

// Protocol returns the negotiated protocol version.
func (c *Client) Protocol() int { return 0 }

// Name returns the plugin's name as the client knows it (the binary's name
// without the kit-plugin- prefix).
func (c *Client) Name() string { return c.name }

// Close stops the plugin process and waits for it to exit.
func (c *Client) Close() error { return nil }
