package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"

	"github.com/kitbuild/kit/core/format/initramfs"
)

// measure is one run of a process.
type measure struct {
	Wall   time.Duration `json:"wall"`
	User   time.Duration `json:"user"`
	Sys    time.Duration `json:"sys"`
	MaxRSS int64         `json:"maxRSS"` // bytes
	// Written is what the process wrote to files, spool files and
	// temporaries included (rusage oublock).
	Written int64 `json:"written"` // bytes
}

// CPU is user plus system time.
func (m measure) CPU() time.Duration { return m.User + m.Sys }

// CPUPerWall is the average number of busy cores.
func (m measure) CPUPerWall() float64 { return m.CPU().Seconds() / m.Wall.Seconds() }

// runKit runs the kit binary with args and measures it.
//
// The test binary re-executes itself as a small wrapper that starts kit
// and reports its rusage (see wrapMain): Go starts children with vfork, and
// Linux charges the parent's resident set at the time of exec to the
// child's peak RSS, so kit started straight from this process (which holds
// the registry's images) would report this process's size.
func runKit(ctx context.Context, bin string, args ...string) (measure, error) {
	res, err := os.CreateTemp(shared.dir, "measure-*.json")
	if err != nil {
		return measure{}, err
	}
	res.Close()
	defer os.Remove(res.Name())
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{bin}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=0", wrapEnv+"="+res.Name())
	if err := cmd.Run(); err != nil {
		return measure{}, fmt.Errorf("kit %s: %w\n%s", strings.Join(args, " "), err, tail(out.String(), 40))
	}
	b, err := os.ReadFile(res.Name())
	if err != nil {
		return measure{}, err
	}
	var m measure
	if err := json.Unmarshal(b, &m); err != nil {
		return measure{}, fmt.Errorf("measure of kit %s: %w", strings.Join(args, " "), err)
	}
	return m, nil
}

// wrapEnv names the file where the wrapper writes its measure.
const wrapEnv = "KIT_BENCH_MEASURE"

// wrapMain is the wrapper: it runs os.Args[1:] with its output and writes
// the measure as JSON to $KIT_BENCH_MEASURE. It returns the exit code.
func wrapMain() int {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	start := time.Now()
	err := cmd.Run()
	m := measure{Wall: time.Since(start)}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	m.User, m.Sys = cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.MaxRSS = int64(ru.Maxrss) << 10 // KiB on Linux
		m.Written = ru.Oublock * 512
	}
	b, err := json.Marshal(m)
	if err == nil {
		err = os.WriteFile(os.Getenv(wrapEnv), b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// build runs `kit build` of the system's spec with the cache and output
// directory given.
func (s *state) build(ctx context.Context, bin, cache, out string) (measure, error) {
	return runKit(ctx, bin, "build", "--cache", cache, "-o", out, "--name", s.sys.name,
		"--progress", "plain", "-f", "kernel+initrd", s.spec)
}

// initrdPath is where build puts the initrd in out.
func (s *state) initrdPath(out string) string {
	return filepath.Join(out, s.sys.name+"-initrd.img")
}

// proxyResult is the physical-limit proxy of a build: every layer blob
// decompressed once (klauspost gzip, one after another) plus the initrd's
// cpio compressed once (pgzip with kit's parameters).
type proxyResult struct {
	Decompress time.Duration `json:"decompress"`
	Compress   time.Duration `json:"compress"`
	// LayersMB is the compressed input, PayloadMB the cpio compressed.
	LayersMB  float64 `json:"layersMB"`
	PayloadMB float64 `json:"payloadMB"`
}

// Total is the proxy's time.
func (p proxyResult) Total() time.Duration { return p.Decompress + p.Compress }

// measureProxy decompresses blobs and compresses payload, timing each.
func measureProxy(blobs [][]byte, payload []byte) (proxyResult, error) {
	var r proxyResult
	start := time.Now()
	for i, b := range blobs {
		r.LayersMB += float64(len(b)) / 1e6
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return r, fmt.Errorf("layer %d: %w", i, err)
		}
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return r, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	r.Decompress = time.Since(start)

	start = time.Now()
	zw, err := pgzip.NewWriterLevel(io.Discard, initramfs.GzipLevel)
	if err != nil {
		return r, err
	}
	if err := zw.SetConcurrency(initramfs.GzipBlockSize, 2*runtime.GOMAXPROCS(0)); err != nil {
		return r, err
	}
	if _, err := zw.Write(payload); err != nil {
		return r, err
	}
	if err := zw.Close(); err != nil {
		return r, err
	}
	r.Compress = time.Since(start)
	r.PayloadMB = float64(len(payload)) / 1e6
	return r, nil
}

// initrdPayload returns the uncompressed cpio of an initrd that is one gzip
// member (no microcode in front), padding ignored.
func initrdPayload(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("initrd %s: %w", path, err)
	}
	zr.Multistream(false)
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("initrd %s: %w", path, err)
	}
	return b, nil
}
