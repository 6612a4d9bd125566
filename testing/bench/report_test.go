package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Targets of the issue.
const (
	targetColdPerProxy = 1.5  // cold build ≤ 1.5 × proxy
	targetWarmPerCold  = 0.05 // warm build ≤ 0.05 × cold build
	targetCPUPerWall   = 1.5  // both cores busy on cold builds
	targetRSSMB        = 256  // peak RSS of the large build
)

// row gathers every measurement of one system.
type row struct {
	System   string    `json:"system"`
	ImagesMB float64   `json:"imagesMB"`
	Layers   int       `json:"layers"`
	Cold     []measure `json:"cold,omitempty"`
	Warm     []measure `json:"warm,omitempty"`
	// WarmNew are warm builds into a new output directory (a copy of
	// every artifact); Warm re-run where the artifacts already are.
	WarmNew []measure     `json:"warmNew,omitempty"`
	Proxy   []proxyResult `json:"proxy,omitempty"`
	// ColdNet are cold builds from a registry throttled to netRate.
	ColdNet []measure `json:"coldNet,omitempty"`
}

type table struct {
	mu   sync.Mutex
	rows map[string]*row
}

var results = &table{rows: map[string]*row{}}

func (t *table) add(s *state, f func(*row)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rows[s.sys.name]
	if r == nil {
		r = &row{System: s.sys.name}
		t.rows[s.sys.name] = r
	}
	r.ImagesMB, r.Layers = s.layersMB, s.layers
	f(r)
}

func (t *table) get(name string) row {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.rows[name]; r != nil {
		return *r
	}
	return row{System: name}
}

// best returns the run with the shortest wall time: on a machine that
// runs other work too, the best run is the one least disturbed.
func best(ms []measure) measure {
	return slices.MinFunc(ms, func(a, b measure) int { return int(a.Wall - b.Wall) })
}

func peakRSS(ms []measure) int64 {
	var m int64
	for _, x := range ms {
		m = max(m, x.MaxRSS)
	}
	return m
}

// bestProxy is the fastest proxy run: the limit is what the machine can do.
func bestProxy(ps []proxyResult) proxyResult {
	return slices.MinFunc(ps, func(a, b proxyResult) int { return int(a.Total() - b.Total()) })
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// report prints the table of results (nothing when no benchmark ran) and,
// when dir is set, writes it there with the raw measurements as JSON.
func report(w io.Writer, dir string) error {
	var rows []row
	for _, sys := range systems {
		if r := results.get(sys.name); len(r.Cold)+len(r.Warm)+len(r.Proxy)+len(r.ColdNet) > 0 {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return nil
	}
	var b strings.Builder
	if kernelSource != "" {
		fmt.Fprintf(&b, "kernel: %s\n", kernelSource)
	}
	if initSource != "" {
		fmt.Fprintf(&b, "small's init: %s\n", initSource)
	}
	writeTable(&b, rows)
	fmt.Fprint(w, "\n"+b.String())
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "table.txt"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	j, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.json"), append(j, '\n'), 0o644)
}

// cpuFloor is the wall time a build would take with its CPU time spread
// evenly over every core: no build doing the same work can be faster. A
// cold build whose floor is already over the target's share of the proxy
// can only meet it by doing less work, not by overlapping it better.
func cpuFloor(m measure) time.Duration {
	return m.CPU() / time.Duration(cores)
}

// cores is the number of CPUs kit builds with.
var cores = runtime.NumCPU()

func writeTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "system\timages MB\truns\tcold s\twarm s\twarm new dir s\tproxy s\t(dec+gz)\tcold/proxy\tcpu floor/proxy\twarm/cold\tcpu/wall\tpeak RSS MB\twarm RSS MB\twritten MB\tcold at %d MB/s s\t\n", netRate>>20)
	dash := "-"
	for _, r := range rows {
		cold, warm, warmNew, proxy, dec, ratio, floor, wc, cw, rss, wrss, written, net := dash, dash, dash, dash, dash, dash, dash, dash, dash, dash, dash, dash, dash
		if len(r.ColdNet) > 0 {
			net = secs(best(r.ColdNet).Wall)
		}
		if len(r.WarmNew) > 0 {
			warmNew = fmt.Sprintf("%.3f", best(r.WarmNew).Wall.Seconds())
		}
		var c, wm measure
		var p proxyResult
		if len(r.Cold) > 0 {
			c = best(r.Cold)
			cold, cw, rss = secs(c.Wall), fmt.Sprintf("%.2f", c.CPUPerWall()), fmt.Sprintf("%.0f", float64(peakRSS(r.Cold))/1e6)
			written = fmt.Sprintf("%.0f", float64(c.Written)/1e6)
		}
		if len(r.Warm) > 0 {
			wm = best(r.Warm)
			warm, wrss = fmt.Sprintf("%.3f", wm.Wall.Seconds()), fmt.Sprintf("%.0f", float64(peakRSS(r.Warm))/1e6)
		}
		if len(r.Proxy) > 0 {
			p = bestProxy(r.Proxy)
			proxy, dec = secs(p.Total()), secs(p.Decompress)+"+"+secs(p.Compress)
		}
		if c.Wall > 0 && p.Total() > 0 {
			ratio = fmt.Sprintf("%.2f", c.Wall.Seconds()/p.Total().Seconds())
			floor = fmt.Sprintf("%.2f", cpuFloor(c).Seconds()/p.Total().Seconds())
		}
		if c.Wall > 0 && wm.Wall > 0 {
			wc = fmt.Sprintf("%.3f", wm.Wall.Seconds()/c.Wall.Seconds())
		}
		runs := fmt.Sprintf("%d/%d/%d", len(r.Cold), len(r.Warm), len(r.Proxy))
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.System, r.ImagesMB, runs, cold, warm, warmNew, proxy, dec, ratio, floor, wc, cw, rss, wrss, written, net)
	}
	tw.Flush()
	writeTargets(w, rows)
}

// writeTargets checks the targets against the rows.
func writeTargets(w io.Writer, rows []row) {
	by := map[string]row{}
	for _, r := range rows {
		by[r.System] = r
	}
	check := func(ok bool, format string, args ...any) {
		mark := "ok  "
		if !ok {
			mark = "MISS"
		}
		fmt.Fprintf(w, "%s "+format+"\n", append([]any{mark}, args...)...)
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		if len(r.Cold) == 0 {
			continue
		}
		c := best(r.Cold)
		if len(r.Proxy) > 0 {
			p := bestProxy(r.Proxy).Total().Seconds()
			x := c.Wall.Seconds() / p
			check(x <= targetColdPerProxy, "%s: cold/proxy %.2f ≤ %.2f (cpu floor/proxy %.2f)", r.System, x, targetColdPerProxy, cpuFloor(c).Seconds()/p)
		}
		if len(r.Warm) > 0 {
			x := best(r.Warm).Wall.Seconds() / c.Wall.Seconds()
			check(x <= targetWarmPerCold, "%s: warm/cold %.3f ≤ %.2f", r.System, x, targetWarmPerCold)
		}
		check(c.CPUPerWall() >= targetCPUPerWall, "%s: cold cpu/wall %.2f ≥ %.1f", r.System, c.CPUPerWall(), targetCPUPerWall)
	}
	if l, ok := by["large"]; ok && len(l.Cold) > 0 {
		mb := float64(peakRSS(l.Cold)) / 1e6
		check(mb <= targetRSSMB, "large: peak RSS %.0f MB ≤ %d MB", mb, targetRSSMB)
	}
	m, l := by["medium"], by["large"]
	if len(m.Cold) > 0 && len(l.Cold) > 0 {
		rm, rl := float64(peakRSS(m.Cold))/1e6, float64(peakRSS(l.Cold))/1e6
		// Flat: tripling the images adds less than a fifth to the peak.
		check(rl <= 1.2*rm, "peak RSS flat in image size: %.0f MB of images → %.0f MB, %.0f MB of images → %.0f MB",
			m.ImagesMB, rm, l.ImagesMB, rl)
	}
}
