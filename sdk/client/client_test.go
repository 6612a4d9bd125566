package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitbuild/kit/sdk"
	"github.com/kitbuild/kit/sdk/client"
	"github.com/kitbuild/kit/sdk/internal/testplugin"
	"github.com/kitbuild/kit/sdk/internal/wire"
	"github.com/kitbuild/kit/sdk/sdktest"
)

// pluginBin is the test plugin (sdk/internal/testplugin), built once.
var pluginBin string

func TestMain(m *testing.M) {
	if mode := os.Getenv("KIT_SDK_TEST_HOST"); mode != "" {
		runHost(mode, os.Getenv("KIT_SDK_TEST_PLUGIN"))
		return
	}
	dir, err := os.MkdirTemp("", "kit-sdk-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginBin, err = sdktest.BuildBinary(context.Background(), "../internal/testplugin/cmd/kit-plugin-testplugin", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// runHost is a stand-in for kit in the no-orphans tests: it starts the
// plugin, prints its PID and waits to be killed.
func runHost(mode, bin string) {
	var pid int
	switch mode {
	case "client":
		c, err := client.Start(context.Background(), bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pid = c.Pid()
	case "exec":
		// Started without Pdeathsig: only the plugin's parent watch can
		// end it.
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(),
			wire.Handshake.MagicCookieKey+"="+wire.Handshake.MagicCookieValue,
			"PLUGIN_PROTOCOL_VERSIONS=1",
			wire.EnvParentPID+"="+strconv.Itoa(os.Getpid()))
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pid = cmd.Process.Pid
	}
	fmt.Println(pid)
	select {}
}

// inputs is a small build request for the test plugin's formats.
func request(t *testing.T) client.BuildRequest {
	rootfs := sdktest.WriteTar(t, map[string]string{"etc/hostname": "box\n", "bin/sh": "#!"})
	return client.BuildRequest{
		Inputs:          map[string]sdk.Input{sdk.InputRootfs: rootfs},
		Images:          map[string]sdk.Input{"tools": {Path: rootfs.Path, Digest: rootfs.Digest, Ref: "example.com/tools:1"}},
		Config:          json.RawMessage(`{"greeting":"hi"}`),
		SourceDateEpoch: 1700000000,
		ScratchDir:      t.TempDir(),
		Arch:            "amd64",
	}
}

// clients runs f against the test plugin as a process and in process.
func clients(t *testing.T, f func(t *testing.T, c *client.Client)) {
	t.Run("process", func(t *testing.T) { f(t, sdktest.Start(t, pluginBin)) })
	t.Run("in-process", func(t *testing.T) { f(t, sdktest.Serve(t, testPlugin())) })
}

func TestDescribe(t *testing.T) {
	clients(t, func(t *testing.T, c *client.Client) {
		if c.Protocol() != 1 {
			t.Errorf("protocol %d, want 1", c.Protocol())
		}
		d, err := c.Describe(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d.Name != "testplugin" || d.Version != "1.2.3" || d.Protocol != 1 {
			t.Errorf("description %+v", d)
		}
		echo, ok := d.Component(sdk.KindFormat, "echo")
		if !ok {
			t.Fatalf("no echo format in %+v", d.Components)
		}
		if echo.Version != "v1" || len(echo.Outputs) != 2 || echo.Outputs[0] != (sdk.Output{Suffix: "-out.txt", MediaType: "text/plain"}) ||
			len(echo.Needs) != 1 || echo.Needs[0] != sdk.InputRootfs ||
			len(echo.Images) != 1 || echo.Images[0] != (sdk.Image{Name: "tools", Default: "example.com/tools:1"}) ||
			!json.Valid(echo.ConfigSchema) {
			t.Errorf("echo: %+v", echo)
		}
		if block, _ := d.Component(sdk.KindFormat, "block"); block.ConfigSchema != nil {
			t.Errorf("block takes no config, schema %s", block.ConfigSchema)
		}
		if u, ok := d.Component(sdk.KindUpload, "bucket"); !ok || string(u.ConfigSchema) != `{"type":"object"}` {
			t.Errorf("upload: %+v %v", u, ok)
		}
		if _, ok := d.Component(sdk.KindRun, "vm"); !ok {
			t.Errorf("no run component vm")
		}
	})
}

func TestBuildRoundTrip(t *testing.T) {
	clients(t, func(t *testing.T, c *client.Client) {
		req := request(t)
		arts := sdktest.RunFormat(t, c, "echo", req)
		byS := map[string]client.Artifact{}
		for _, a := range arts {
			byS[a.Suffix] = a
		}
		txt, err := os.ReadFile(byS["-out.txt"].Path)
		if err != nil || string(txt) != "hi box\n" {
			t.Errorf("-out.txt: %q %v", txt, err)
		}
		if byS["-out.txt"].MediaType != "text/plain" || byS[".json"].MediaType != "application/json" {
			t.Errorf("media types: %+v", arts)
		}
		var meta map[string]any
		b, _ := os.ReadFile(byS[".json"].Path)
		if err := json.Unmarshal(b, &meta); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"arch": "amd64", "epoch": 1700000000.0, "rootfs": req.Inputs[sdk.InputRootfs].Digest, "tools": "example.com/tools:1"}
		for k, v := range want {
			if meta[k] != v {
				t.Errorf("meta[%s] = %v, want %v", k, meta[k], v)
			}
		}
	})
}

func TestBuildErrors(t *testing.T) {
	clients(t, func(t *testing.T, c *client.Client) {
		ctx := context.Background()
		tests := []struct {
			name, component string
			mod             func(*client.BuildRequest)
			want            string
		}{
			{"unknown component", "nope", nil, `no format "nope"`},
			{"config for a format without config", "block", nil, "takes no config"},
			{"config the format refuses", "echo", func(r *client.BuildRequest) { r.Config = json.RawMessage(`{"colour":1}`) }, `unknown field "colour"`},
			{"missing scratch dir", "echo", func(r *client.BuildRequest) { r.ScratchDir = filepath.Join(r.ScratchDir, "nope") }, "scratch dir"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req := request(t)
				if tt.mod != nil {
					tt.mod(&req)
				}
				_, err := c.BuildFormat(ctx, tt.component, req)
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "plugin testplugin: format "+tt.component) {
					t.Fatalf("err = %v, want one naming the plugin and component and containing %q", err, tt.want)
				}
				var ce *client.Error
				if !errors.As(err, &ce) || ce.Component != tt.component || ce.Op != "build" {
					t.Errorf("not a *client.Error for %s: %#v", tt.component, err)
				}
			})
		}
		// The client is still usable after plugin-side errors.
		sdktest.RunFormat(t, c, "echo", request(t))
	})
}

// testPlugin is the test plugin's Plugin for in-process runs.
func testPlugin() sdk.Plugin {
	return testplugin.Plugin
}

// logs collects a client's log entries.
type logs struct {
	mu      sync.Mutex
	entries []entry
	onMsg   map[string]chan struct{}
}

type entry struct {
	level, msg string
	fields     map[string]any
}

func newLogs(signal ...string) *logs {
	l := &logs{onMsg: map[string]chan struct{}{}}
	for _, s := range signal {
		l.onMsg[s] = make(chan struct{})
	}
	return l
}

func (l *logs) fn(level, msg string, fields map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, entry{level, msg, fields})
	if ch, ok := l.onMsg[msg]; ok {
		close(ch)
		delete(l.onMsg, msg)
	}
}

func (l *logs) find(msg string) (entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e.msg == msg {
			return e, true
		}
	}
	return entry{}, false
}

// wait waits for the signal ch or fails the test after a generous bound
// (a hang guard, not a timing assertion).
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s after 30s", what)
	}
}

func TestLogForwarding(t *testing.T) {
	for _, mode := range []string{"process", "in-process"} {
		t.Run(mode, func(t *testing.T) {
			l := newLogs()
			var c *client.Client
			if mode == "process" {
				c = sdktest.Start(t, pluginBin, client.WithLogger(l.fn))
			} else {
				c = sdktest.Serve(t, testPlugin(), client.WithLogger(l.fn))
			}
			req := request(t)
			req.Config = nil
			if _, err := c.BuildFormat(context.Background(), "log", req); err != nil {
				t.Fatal(err)
			}
			if mode == "process" {
				// Log lines travel on stderr, asynchronously to the
				// RPC; Close waits until go-plugin has read them all.
				_ = c.Close()
			}
			e, ok := l.find("hello from the plugin")
			if !ok {
				t.Fatalf("no forwarded entry in %+v", l.entries)
			}
			if e.level != "info" || e.fields["n"] != 42.0 || e.fields["g.k"] != "v" || e.fields["component"] != "log" {
				t.Errorf("entry %+v", e)
			}
			for k := range e.fields {
				if strings.HasPrefix(k, "@") || k == "timestamp" {
					t.Errorf("hclog's own key %q forwarded", k)
				}
			}
			if w, ok := l.find("careful"); !ok || w.level != "warn" || w.fields["path"] != req.ScratchDir {
				t.Errorf("warn entry %+v %v", w, ok)
			}
			if d, ok := l.find("details"); !ok || d.level != "debug" {
				t.Errorf("debug entry %+v %v", d, ok)
			}
		})
	}
}

// TestCancelReachesBuild: a Build that waits on ctx.Done returns when the
// host cancels.
func TestCancelReachesBuild(t *testing.T) {
	started, returned := make(chan struct{}), make(chan error, 1)
	p := sdk.Plugin{Name: "cancel", Version: "1", Formats: []sdk.Format{funcFormat(func(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
		close(started)
		<-ctx.Done()
		returned <- ctx.Err()
		return nil, ctx.Err()
	})}}
	c := sdktest.Serve(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.BuildFormat(ctx, "func", client.BuildRequest{ScratchDir: t.TempDir()})
		errc <- err
	}()
	wait(t, started, "build start")
	cancel()
	var err error
	select {
	case err = <-errc:
	case <-time.After(30 * time.Second):
		t.Fatal("BuildFormat did not return after cancel")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "plugin cancel: format func") {
		t.Errorf("err = %v", err)
	}
	select {
	case perr := <-returned:
		if !errors.Is(perr, context.Canceled) {
			t.Errorf("plugin saw %v", perr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the plugin's Build never saw the cancellation")
	}
}

// TestCancelReachesBuildProcess: the same through a process, observed in
// the plugin's own log.
func TestCancelHungPlugin(t *testing.T) {
	for _, component := range []string{"block", "hang"} {
		t.Run(component, func(t *testing.T) {
			l := newLogs("blocking", "hanging")
			c := sdktest.Start(t, pluginBin, client.WithLogger(l.fn))
			pid := c.Pid()
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				req := request(t)
				req.Config = nil
				_, err := c.BuildFormat(ctx, component, req)
				errc <- err
			}()
			l.mu.Lock()
			sig := l.onMsg[map[string]string{"block": "blocking", "hang": "hanging"}[component]]
			l.mu.Unlock()
			wait(t, sig, component+" log")
			cancel()
			err := <-errc
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "plugin testplugin: format "+component) {
				t.Errorf("err = %v", err)
			}
			// BuildFormat closed the client: the process is gone.
			if alive(pid) {
				t.Errorf("plugin process %d still alive after cancel", pid)
			}
			if _, err := c.BuildFormat(context.Background(), "echo", request(t)); !errors.Is(err, client.ErrClosed) {
				t.Errorf("build on a cancelled client: %v", err)
			}
		})
	}
}

func TestCrash(t *testing.T) {
	c := sdktest.Start(t, pluginBin)
	req := request(t)
	req.Config = nil
	_, err := c.BuildFormat(context.Background(), "crash", req)
	if !errors.Is(err, client.ErrPluginExited) || !strings.Contains(err.Error(), "plugin testplugin: format crash") ||
		!strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("err = %v", err)
	}
	t.Logf("error: %v", err)
	if alive(c.Pid()) {
		t.Errorf("crashed plugin %d still alive", c.Pid())
	}
}

func TestWrongDigest(t *testing.T) {
	c := sdktest.Start(t, pluginBin, client.WithEnv("KIT_TESTPLUGIN_LIAR=1"))
	_, err := c.BuildFormat(context.Background(), "echo", request(t))
	if !errors.Is(err, client.ErrBadArtifact) || !strings.Contains(err.Error(), "plugin testplugin: format echo") ||
		!strings.Contains(err.Error(), "the plugin claimed sha256:0000") {
		t.Fatalf("err = %v", err)
	}
	t.Logf("error: %v", err)
}

func TestChecksum(t *testing.T) {
	sum, err := client.FileSHA256(context.Background(), pluginBin)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Start(context.Background(), pluginBin, client.WithChecksum(sum))
	if err != nil {
		t.Fatalf("start with the right checksum: %v", err)
	}
	_ = c.Close()

	// A copy of the binary, changed after it was locked.
	changed := filepath.Join(t.TempDir(), "kit-plugin-testplugin")
	b, err := os.ReadFile(pluginBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(changed, append(b, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = client.Start(context.Background(), changed, client.WithChecksum(sum))
	if !errors.Is(err, client.ErrChecksumMismatch) || !strings.Contains(err.Error(), "plugin testplugin") ||
		!strings.Contains(err.Error(), fmt.Sprintf("%x", sum)) {
		t.Fatalf("err = %v", err)
	}
	t.Logf("error: %v", err)
}

func TestProtocolNegotiation(t *testing.T) {
	t.Run("common version chosen", func(t *testing.T) {
		c := sdktest.Start(t, pluginBin, client.WithProtocolVersions(1, 2))
		if c.Protocol() != 1 {
			t.Errorf("negotiated %d, want 1", c.Protocol())
		}
	})
	t.Run("no common version", func(t *testing.T) {
		_, err := client.Start(context.Background(), pluginBin, client.WithProtocolVersions(99))
		if !errors.Is(err, client.ErrIncompatibleProtocol) || !strings.Contains(err.Error(), "plugin testplugin") {
			t.Fatalf("err = %v", err)
		}
		t.Logf("error: %v", err)
	})
	t.Run("no common version in process", func(t *testing.T) {
		_, err := client.StartInProcess(context.Background(), testPlugin(), client.WithProtocolVersions(99))
		if !errors.Is(err, client.ErrIncompatibleProtocol) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNotAPluginBinary(t *testing.T) {
	_, err := client.Start(context.Background(), "/bin/true", client.WithStartTimeout(30*time.Second))
	if err == nil || !strings.Contains(err.Error(), "plugin true: start") {
		t.Fatalf("err = %v", err)
	}
	t.Logf("error: %v", err)
}

type funcFormat func(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error)

func (f funcFormat) Info() sdk.FormatInfo {
	return sdk.FormatInfo{Name: "func", Version: "1", Outputs: []sdk.Output{{Suffix: ".out", MediaType: "application/octet-stream"}}}
}

func (f funcFormat) Build(ctx context.Context, req *sdk.BuildRequest) ([]sdk.File, error) {
	return f(ctx, req)
}

func TestPanicInBuild(t *testing.T) {
	l := newLogs()
	p := sdk.Plugin{Name: "panicky", Version: "1", Formats: []sdk.Format{funcFormat(func(context.Context, *sdk.BuildRequest) ([]sdk.File, error) {
		panic("boom")
	})}}
	c := sdktest.Serve(t, p, client.WithLogger(l.fn))
	_, err := c.BuildFormat(context.Background(), "func", client.BuildRequest{ScratchDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "plugin panicky: format func: build: format func panicked: boom") {
		t.Fatalf("err = %v", err)
	}
	if e, ok := l.find("format panicked"); !ok || e.level != "error" || !strings.Contains(fmt.Sprint(e.fields["stack"]), "goroutine") {
		t.Errorf("panic log %+v %v", e, ok)
	}
}
