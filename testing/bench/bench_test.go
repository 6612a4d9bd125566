package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitbuild/kit/core/steps/fetch"
)

// The benchmarks build each system of systems through the kit binary
// (built once, or $KIT_BENCH_KIT) as a child process, so that its time,
// CPU and peak RSS are its own; images are generated and pushed once per
// process to an in-process registry. After the run TestMain prints the
// table and, with $KIT_BENCH_RESULTS, writes it there with the raw runs.

// TestMain owns the scratch directory and the registry, and prints the
// table of results after benchmarks ran.
func TestMain(m *testing.M) {
	if os.Getenv(wrapEnv) != "" {
		os.Exit(wrapMain())
	}
	dir, err := os.MkdirTemp("", "kit-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared.dir = dir
	code := m.Run()
	if shared.reg != nil {
		shared.reg.Close()
	}
	os.RemoveAll(dir)
	if err := report(os.Stdout, os.Getenv("KIT_BENCH_RESULTS")); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	os.Exit(code)
}

// settle flushes the page cache to the disk and waits until the disks are
// idle (at most 30 s), so that a build does not pay for the writeback (and,
// on file systems mounted with discard, the trimming) of what an earlier
// one wrote and deleted. It then reads the kit binary, so that the build
// measured next finds it in the page cache, as the proxy finds its own
// code in memory: this VM pages out page cache idle for about a second
// (DAMON), and faulting kit's pages back in from the disk cost a warm build
// 15 to 20 ms, three times the build itself.
func settle() {
	defer func() {
		if bin, err := shared.kitBinary(); err == nil {
			if f, err := os.Open(bin); err == nil {
				io.Copy(io.Discard, f)
				f.Close()
			}
		}
	}()
	syscall.Sync()
	last, quiet := diskTicks(), 0
	for deadline := time.Now().Add(30 * time.Second); quiet < 3 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		t := diskTicks()
		if t == last {
			quiet++
		} else {
			last, quiet = t, 0
		}
	}
}

// diskTicks is the time the block devices have spent doing I/O (ms, summed
// over /proc/diskstats), 0 where that is unknown.
func diskTicks() int64 {
	b, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return 0
	}
	var sum int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 13 || strings.HasPrefix(f[2], "loop") || strings.HasPrefix(f[2], "ram") {
			continue
		}
		n, _ := strconv.ParseInt(f[12], 10, 64)
		sum += n
	}
	return sum
}

// coldBuild builds the system with a fresh cache and lock under dir, records
// the run, and keeps the first initrd (for the proxy) and the first cache
// (for warm builds). A benchmark's timer runs only during the build.
func (s *state) coldBuild(tb testing.TB, dir string) measure {
	tb.Helper()
	b, _ := tb.(*testing.B)
	if b != nil {
		b.StopTimer()
		defer b.StartTimer()
	}
	bin, err := shared.kitBinary()
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Remove(fetch.LockPath(s.spec)); err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	cache, out := filepath.Join(dir, "cache"), filepath.Join(dir, "out")
	settle()
	if b != nil {
		b.StartTimer()
	}
	m, err := s.build(context.Background(), bin, cache, out)
	if b != nil {
		b.StopTimer()
	}
	if err != nil {
		tb.Fatal(err)
	}
	results.add(s, func(r *row) { r.Cold = append(r.Cold, m) })
	keep := filepath.Dir(s.spec)
	if s.initrd == "" {
		s.initrd = filepath.Join(keep, "initrd.img")
		if err := os.Rename(s.initrdPath(out), s.initrd); err != nil {
			tb.Fatal(err)
		}
	}
	if s.warmCache == "" {
		s.warmCache = filepath.Join(keep, "warm-cache")
		if err := os.Rename(cache, s.warmCache); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		tb.Fatal(err)
	}
	return m
}

// ensureProxy measures the proxy once (after a cold build, for the
// initrd).
func (s *state) ensureProxy(tb testing.TB) proxyResult {
	tb.Helper()
	if s.initrd == "" {
		s.coldBuild(tb, filepath.Join(shared.dir, s.sys.name, "proxy-build"))
	}
	s.proxyOnce.Do(func() {
		var blobs [][]byte
		var payload []byte
		if blobs, s.proxyErr = s.layerBlobs(context.Background()); s.proxyErr != nil {
			return
		}
		if payload, s.proxyErr = initrdPayload(s.initrd); s.proxyErr != nil {
			return
		}
		s.proxy, s.proxyErr = measureProxy(blobs, payload)
		results.add(s, func(r *row) { r.Proxy = append(r.Proxy, s.proxy) })
	})
	if s.proxyErr != nil {
		tb.Fatal(s.proxyErr)
	}
	return s.proxy
}

// BenchmarkBuildCold builds each system with an empty cache (and no lock
// file) through the kit binary.
func BenchmarkBuildCold(b *testing.B) {
	for _, sys := range systems {
		b.Run(sys.name, func(b *testing.B) {
			s := shared.system(b, sys.name)
			var wall, cpu time.Duration
			var rss int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := s.coldBuild(b, filepath.Join(shared.dir, sys.name, fmt.Sprintf("cold-%d", i)))
				wall += m.Wall
				cpu += m.CPU()
				rss = max(rss, m.MaxRSS)
			}
			b.StopTimer()
			p := s.ensureProxy(b)
			n := float64(b.N)
			b.ReportMetric(s.layersMB*n/wall.Seconds(), "MB/s")
			b.ReportMetric(wall.Seconds()/n/p.Total().Seconds(), "x-proxy")
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu/wall")
			b.ReportMetric(float64(rss)/1e6, "peakRSS-MB")
		})
	}
}

// BenchmarkBuildWarm rebuilds each unchanged system from a cache a cold
// build filled; it fails if the build fetches a blob.
func BenchmarkBuildWarm(b *testing.B) {
	for _, sys := range systems {
		b.Run(sys.name, func(b *testing.B) {
			s := shared.system(b, sys.name)
			var cold measure
			if s.warmCache == "" {
				cold = s.coldBuild(b, filepath.Join(shared.dir, sys.name, "warm-setup"))
			} else if c := results.get(sys.name).Cold; len(c) > 0 {
				cold = best(c)
			}
			bin, err := shared.kitBinary()
			if err != nil {
				b.Fatal(err)
			}
			reg, _ := shared.registry()
			var wall, cpu time.Duration
			var rss int64
			// A warm build re-run where the artifacts already are (the
			// usual case: kit build again in the same tree) checks them and
			// leaves them; one into a new directory copies them. Both are
			// measured; the first is the warm build of the targets. Two
			// untimed builds leave the directory as a user's re-runs do.
			inPlace := filepath.Join(shared.dir, sys.name, "warm-out")
			for range 2 {
				if _, err := s.build(context.Background(), bin, s.warmCache, inPlace); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, fresh := range []bool{false, true} {
					b.StopTimer()
					out := inPlace
					if fresh {
						out = filepath.Join(shared.dir, sys.name, "warm-new")
						os.RemoveAll(out)
					}
					reg.Reset()
					settle()
					if !fresh {
						b.StartTimer()
					}
					m, err := s.build(context.Background(), bin, s.warmCache, out)
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					if n := reg.Count("GET", "/blobs/"); n > 0 {
						b.Fatalf("warm build of %s fetched %d blobs", sys.name, n)
					}
					if fresh {
						results.add(s, func(r *row) { r.WarmNew = append(r.WarmNew, m) })
						os.RemoveAll(out)
						continue
					}
					results.add(s, func(r *row) { r.Warm = append(r.Warm, m) })
					wall += m.Wall
					cpu += m.CPU()
					rss = max(rss, m.MaxRSS)
				}
			}
			n := float64(b.N)
			if cold.Wall > 0 {
				b.ReportMetric(wall.Seconds()/n/cold.Wall.Seconds(), "x-cold")
			}
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu/wall")
			b.ReportMetric(float64(rss)/1e6, "peakRSS-MB")
		})
	}
}

// netRate is the rate at which BenchmarkBuildColdNet's registry serves
// each response: a registry across a fast network link.
const netRate = 50 << 20

// BenchmarkBuildColdNet builds each system with an empty cache from a
// registry that serves every response at netRate, as one across a network
// would: there, a build's steps should go on while the images download.
func BenchmarkBuildColdNet(b *testing.B) {
	for _, sys := range systems {
		b.Run(sys.name, func(b *testing.B) {
			s := shared.system(b, sys.name)
			bin, err := shared.kitBinary()
			if err != nil {
				b.Fatal(err)
			}
			reg, _ := shared.registry()
			reg.Throttle(netRate)
			defer reg.Throttle(0)
			var wall time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := filepath.Join(shared.dir, sys.name, fmt.Sprintf("net-%d", i))
				if err := os.Remove(fetch.LockPath(s.spec)); err != nil && !os.IsNotExist(err) {
					b.Fatal(err)
				}
				settle()
				b.StartTimer()
				m, err := s.build(context.Background(), bin, filepath.Join(dir, "cache"), filepath.Join(dir, "out"))
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				results.add(s, func(r *row) { r.ColdNet = append(r.ColdNet, m) })
				wall += m.Wall
				if err := os.RemoveAll(dir); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(s.layersMB*float64(b.N)/wall.Seconds(), "MB/s")
		})
	}
}

// BenchmarkProxy measures the physical-limit proxy of each system: every
// layer blob decompressed once, then the initrd's cpio compressed once with
// a parallel gzip.
func BenchmarkProxy(b *testing.B) {
	for _, sys := range systems {
		b.Run(sys.name, func(b *testing.B) {
			s := shared.system(b, sys.name)
			s.ensureProxy(b)
			blobs, err := s.layerBlobs(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			payload, err := initrdPayload(s.initrd)
			if err != nil {
				b.Fatal(err)
			}
			var dec, comp time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := measureProxy(blobs, payload)
				if err != nil {
					b.Fatal(err)
				}
				results.add(s, func(r *row) { r.Proxy = append(r.Proxy, p) })
				dec += p.Decompress
				comp += p.Compress
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(s.layersMB*n/(dec+comp).Seconds(), "MB/s")
			b.ReportMetric(dec.Seconds()/n, "decompress-s")
			b.ReportMetric(comp.Seconds()/n, "compress-s")
		})
	}
}
