package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kitbuild/kit/testing/monorepo"
)

// The graph benchmark builds testing/monorepo (twelve systems sharing
// three base images and two packages) with kit graph build, cold: an
// empty cache and no lock files every run. "one" builds a single system
// (db: all three base images and both packages, so everything a system
// can share), "all" the twelve; all/one is the cost of eleven more
// systems once the shared work is done (the issue asks for less than 3).
//
//	BENCHTIME=3x testing/bench/run.sh Graph
//
// $KIT_BENCH_GRAPH_MB sets the data in the base image (default 64 MiB,
// semi-compressible), $KIT_BENCH_GRAPH_KERNEL_MB the kernel binary's size
// (default 8).

// graph is the monorepo copied out and its images pushed, and the runs.
var graph struct {
	once sync.Once
	dir  string
	err  error
	mb   int

	mu   sync.Mutex
	runs map[string][]measure
}

func graphSetup() (string, error) {
	graph.once.Do(func() {
		graph.runs = map[string][]measure{}
		graph.mb = envInt("KIT_BENCH_GRAPH_MB", 64)
		reg, err := shared.registry()
		if err != nil {
			graph.err = err
			return
		}
		imgs, err := monorepo.Images(monorepo.Options{BaseMB: graph.mb, KernelSize: envInt("KIT_BENCH_GRAPH_KERNEL_MB", 8) << 20})
		if err != nil {
			graph.err = err
			return
		}
		for ref, img := range imgs {
			if _, err := reg.Write(context.Background(), ref, img); err != nil {
				graph.err = err
				return
			}
		}
		graph.dir = filepath.Join(shared.dir, "monorepo")
		graph.err = monorepo.CopyTo(graph.dir)
	})
	return graph.dir, graph.err
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// graphCold runs one cold kit graph build of patterns.
func graphCold(b *testing.B, dir string, patterns ...string) measure {
	b.StopTimer()
	defer b.StartTimer()
	bin, err := shared.kitBinary()
	if err != nil {
		b.Fatal(err)
	}
	reg, _ := shared.registry()
	locks, _ := filepath.Glob(filepath.Join(dir, "systems", "*.lock"))
	for _, l := range locks {
		if err := os.Remove(l); err != nil {
			b.Fatal(err)
		}
	}
	cache := filepath.Join(shared.dir, "graph-cache")
	if err := os.RemoveAll(cache); err != nil {
		b.Fatal(err)
	}
	settle()
	args := append([]string{"graph", "build", "--workspace", dir, "--cache", cache,
		"--mirror", monorepo.Registry + "=" + reg.URL(), "--progress", "plain"}, patterns...)
	b.StartTimer()
	m, err := runKit(context.Background(), bin, args...)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkGraph measures the cold graph build of one system and of all
// twelve; "all" reports x-one, its best wall time over the best of "one".
func BenchmarkGraph(b *testing.B) {
	dir, err := graphSetup()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		patterns []string
	}{{"one", []string{"db"}}, {"all", []string{"./..."}}} {
		b.Run(c.name, func(b *testing.B) {
			var wall, cpu time.Duration
			var rss int64
			for i := 0; i < b.N; i++ {
				patterns := c.patterns
				if c.name == "all" {
					patterns = []string{dir + "/..."}
				}
				m := graphCold(b, dir, patterns...)
				graph.mu.Lock()
				graph.runs[c.name] = append(graph.runs[c.name], m)
				graph.mu.Unlock()
				wall += m.Wall
				cpu += m.CPU()
				rss = max(rss, m.MaxRSS)
			}
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu/wall")
			b.ReportMetric(float64(rss)/1e6, "peakRSS-MB")
			graph.mu.Lock()
			one, all := graph.runs["one"], graph.runs["all"]
			graph.mu.Unlock()
			if c.name == "all" && len(one) > 0 {
				ratio := best(all).Wall.Seconds() / best(one).Wall.Seconds()
				b.ReportMetric(ratio, "x-one")
				if err := writeGraphResults(best(one), best(all), ratio); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// writeGraphResults prints the figures and, with $KIT_BENCH_RESULTS,
// writes them there as graph.json.
func writeGraphResults(one, all measure, ratio float64) error {
	verdict := "ok  "
	if ratio >= 3 {
		verdict = "MISS"
	}
	fmt.Printf("\ngraph (base image %d MiB): one system cold %.2f s (cpu %.2f s, peak RSS %.0f MB); twelve systems cold %.2f s (cpu %.2f s, peak RSS %.0f MB)\n%s twelve/one %.2f (target < 3)\n",
		graph.mb, one.Wall.Seconds(), one.CPU().Seconds(), float64(one.MaxRSS)/1e6, all.Wall.Seconds(), all.CPU().Seconds(), float64(all.MaxRSS)/1e6, verdict, ratio)
	dir := os.Getenv("KIT_BENCH_RESULTS")
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(struct {
		BaseMB int                  `json:"baseMB"`
		One    measure              `json:"one"`
		All    measure              `json:"all"`
		Ratio  float64              `json:"allPerOne"`
		Runs   map[string][]measure `json:"runs"`
	}{graph.mb, one, all, ratio, graph.runs}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "graph.json"), append(j, '\n'), 0o644)
}
