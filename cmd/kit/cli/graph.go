package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/build"
	"github.com/kitbuild/kit/core/graphbuild"
	"github.com/kitbuild/kit/core/spec"
)

// graphOptions are the flags kit graph build and kit graph show share.
type graphOptions struct {
	root          string
	formats       []string
	formatConfigs []string
	affectedSince string
	arch          string
	jobs          int
	mirrors       []string
	cacheDir      string
	pull          bool
	locked        bool
	noCache       bool
	explain       bool
	progress      string
	epoch         string
	pluginTimeout time.Duration
	vars          []string
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// env is the environment HCL specs read their variables from: kit's own,
// with --var NAME=VALUE as KIT_VAR_NAME (a spec that does not declare NAME
// ignores it, as it does the environment's).
func (o *graphOptions) env() ([]string, error) {
	vars, err := parseVars(o.vars)
	if err != nil {
		return nil, err
	}
	var env []string
	for _, kv := range os.Environ() {
		if name, ok := strings.CutPrefix(kv, spec.EnvVarPrefix); ok {
			if n, _, _ := strings.Cut(name, "="); hasKey(vars, n) {
				continue // --var wins over the environment
			}
		}
		env = append(env, kv)
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		env = append(env, spec.EnvVarPrefix+n+"="+vars[n])
	}
	return env, nil
}

func newGraphCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Build every system of a monorepo as one graph",
		Long: `kit graph finds the systems and packages of a workspace and plans them into
one DAG: a node several systems share (an image fetched and unpacked, a
package) runs once. See docs/graph.md.

A workspace is the directory holding kit.work.hcl (searched from the working
directory up; --workspace names it), else the working directory. Systems are
the *.kit.hcl files under it, the YAML specs kit.work.hcl names, and, when it
names none, the YAML specs the patterns cover. Packages are the kit pkg
directories kit.work.hcl names, else every directory holding a pkg.yml.

Patterns: DIR/... (everything under DIR; the default is ./...), DIR, a spec
FILE, or the NAME of a system or package.`,
	}
	cmd.AddCommand(newGraphBuildCmd(), newGraphShowCmd(), newGraphExportCmd())
	return cmd
}

// flags registers the shared flags; formatFlag names the flag that
// replaces every system's formats ("format" for build, "build-format" for
// show, whose --format is its output's).
func (o *graphOptions) flags(cmd *cobra.Command, formatFlag, short string) {
	f := cmd.Flags()
	f.StringVar(&o.root, "workspace", "", "workspace directory (default: the nearest directory holding kit.work.hcl, else the working directory)")
	f.StringArrayVarP(&o.formats, formatFlag, short, nil, "output format of every system, repeatable (default: each system's own, else kernel+initrd)")
	f.StringArrayVar(&o.formatConfigs, "format-config", nil, "configuration of a format, FORMAT=JSON or FORMAT=@FILE, for every system building it, repeatable")
	f.StringVar(&o.affectedSince, "affected-since", "", "only the systems and packages whose inputs changed since this git revision (working tree and untracked files included)")
	f.StringVar(&o.arch, "arch", runtime.GOARCH, "target architecture: amd64 or arm64")
	f.IntVar(&o.jobs, "jobs", runtime.NumCPU(), "steps to run at once, over the whole graph")
	f.StringArrayVar(&o.mirrors, "mirror", nil, "registry mirror REGISTRY=URL, repeatable")
	f.StringVar(&o.cacheDir, "cache", "", "cache directory (default $KIT_CACHE or the XDG cache dir)")
	f.BoolVar(&o.pull, "pull", false, "resolve tags again and update the lock files (and the packages' pkg.lock)")
	f.BoolVar(&o.pull, "update-lock", false, "same as --pull")
	f.BoolVar(&o.locked, "locked", false, "fail if an image tag is not in a lock file")
	f.BoolVar(&o.noCache, "no-cache", false, "do not use cached results (results are still recorded)")
	f.StringVar(&o.epoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "timestamp for every file in the artifacts (default $SOURCE_DATE_EPOCH, else 0)")
	f.DurationVar(&o.pluginTimeout, "plugin-timeout", 30*time.Minute, "time a plugin may take for one format build (0: no limit)")
	f.StringArrayVar(&o.vars, "var", nil, "set a variable of the HCL specs that declare it, NAME=VALUE (repeatable; as KIT_VAR_NAME)")
	_ = cmd.RegisterFlagCompletionFunc("arch", cobra.FixedCompletions([]string{"amd64", "arm64"}, cobra.ShellCompDirectiveNoFileComp))
}

// load discovers the workspace and selects what the patterns (and
// --affected-since) name.
func (o *graphOptions) load(cmd *cobra.Command, patterns []string) (*graphbuild.Workspace, *graphbuild.Selection, error) {
	env, err := o.env()
	if err != nil {
		return nil, nil, err
	}
	ws, err := graphbuild.Load(graphbuild.LoadOptions{Root: o.root, Formats: o.formats, Env: env}, patterns...)
	if err != nil {
		return nil, nil, err
	}
	sel, err := ws.Select(patterns...)
	if err != nil {
		return nil, nil, err
	}
	if o.affectedSince != "" {
		changed, err := graphbuild.Changed(cmd.Context(), ws.Root, o.affectedSince)
		if err != nil {
			return nil, nil, err
		}
		sel = ws.Affected(sel, changed)
	}
	return ws, sel, nil
}

// options turns the flags into graphbuild options.
func (o *graphOptions) options(pr progress) (graphbuild.Options, error) {
	mirrors := map[string]string{}
	for _, m := range o.mirrors {
		reg, url, ok := strings.Cut(m, "=")
		if !ok || reg == "" || url == "" {
			return graphbuild.Options{}, fmt.Errorf("--mirror %q: want REGISTRY=URL", m)
		}
		mirrors[reg] = url
	}
	var epoch int64
	if o.epoch != "" {
		n, err := strconv.ParseInt(o.epoch, 10, 64)
		if err != nil || n < 0 {
			return graphbuild.Options{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want a whole number of seconds since 1970", o.epoch)
		}
		epoch = n
	}
	configs, err := parseFormatConfigs(o.formatConfigs)
	if err != nil {
		return graphbuild.Options{}, err
	}
	timeout := o.pluginTimeout
	switch {
	case timeout == 0:
		timeout = -1
	case timeout < 0:
		return graphbuild.Options{}, fmt.Errorf("--plugin-timeout %v: want a positive duration, or 0 for no limit", o.pluginTimeout)
	}
	bo := build.Options{
		Arch: o.arch, Jobs: o.jobs, Mirrors: mirrors, CacheDir: o.cacheDir, Pull: o.pull, Locked: o.locked,
		NoCache: o.noCache, Explain: o.explain, SourceDateEpoch: epoch, PluginTimeout: timeout,
	}
	if pr != nil {
		bo.Events = pr.Event
		bo.Warnf = func(f string, a ...any) { pr.Printf("warning: "+f+"\n", a...) }
	}
	env, err := o.env()
	if err != nil {
		return graphbuild.Options{}, err
	}
	return graphbuild.Options{Build: bo, FormatConfig: configs, Env: env}, nil
}

func newGraphBuildCmd() *cobra.Command {
	o := &graphOptions{}
	var outDir string
	var keepGoing, asJSON bool
	cmd := &cobra.Command{
		Use:   "build [flags] [PATTERN...]",
		Short: "Build the systems and packages of a workspace as one graph",
		Long: `Build the selected systems and the packages they use as one DAG, then print a
summary: per system and package its formats, the nodes of its plan, how many
came from the cache and how many ran, the time and the status.

With -o DIR each system's artifacts are written to DIR/SYSTEM/SYSTEM<suffix>
(DIR/web/web-kernel, DIR/web/web-initrd.img, ...). Packages are recorded in
the cache's image index as IMAGE:TAG (see kit cache).

The first failure cancels the rest of the build; with --keep-going every
system that does not depend on the failure is still built. The exit code is
non-zero when any system or package failed.`,
		Example: `  kit graph build ./...
  kit graph build -o out ./systems/...
  kit graph build --affected-since origin/main --keep-going
  kit graph build web db`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ws, sel, err := o.load(cmd, args)
			if err != nil {
				return err
			}
			pr, err := newProgress(o.progress, cmd.ErrOrStderr(), o.explain)
			if err != nil {
				return err
			}
			opts, err := o.options(pr)
			if err != nil {
				pr.Close()
				return err
			}
			opts.OutDir, opts.KeepGoing = outDir, keepGoing
			if len(sel.Systems)+len(sel.Packages) == 0 {
				pr.Close()
				fmt.Fprintln(cmd.ErrOrStderr(), "kit graph: nothing to build")
				return nil
			}
			rep, err := graphbuild.Build(cmd.Context(), ws, sel, opts)
			pr.Close()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := writeReportJSON(out, rep); err != nil {
					return err
				}
			} else {
				writeReport(out, rep)
			}
			if err := rep.Err(); err != nil {
				return &exitError{code: 1, err: err}
			}
			return nil
		},
	}
	o.flags(cmd, "format", "f")
	f := cmd.Flags()
	f.StringVarP(&outDir, "dir", "o", "", "write each system's artifacts to DIR/SYSTEM/ (default: keep them in the cache only)")
	f.BoolVar(&keepGoing, "keep-going", false, "build every system that does not depend on a failure")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	f.BoolVar(&o.explain, "explain", false, "print, for each step, whether it hit the cache and why not")
	f.StringVar(&o.progress, "progress", "auto", "progress output: auto, tty, plain or json")
	_ = cmd.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{"auto", "tty", "plain", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// writeReport prints the summary table, then the errors of failed units.
func writeReport(w io.Writer, rep *graphbuild.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tFORMATS\tNODES\tHITS\tBUILT\tTIME\tSTATUS")
	var hits, built, failed int
	for _, r := range rep.Rows {
		what := strings.Join(r.Formats, ",")
		if r.Kind == graphbuild.KindPackage {
			what = r.Ref
		}
		if what == "" {
			what = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.Name, r.Kind, what, r.Nodes, r.Hits, r.Built, r.Took.Round(time.Millisecond), r.Status)
		hits += r.Hits
		built += r.Built
		if r.Status == graphbuild.StatusFailed {
			failed++
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d units, %d nodes in the graph; %d failed\n", len(rep.Rows), rep.Nodes, failed)
	for _, r := range rep.Rows {
		if r.Status == graphbuild.StatusFailed && r.Err != nil {
			fmt.Fprintf(w, "%s %s: %v\n", r.Kind, r.Name, r.Err)
		}
	}
}

// jsonRow is a row of the --json summary.
type jsonRow struct {
	graphbuild.Row
	TookMS int64  `json:"tookMs"`
	Error  string `json:"error,omitempty"`
}

func writeReportJSON(w io.Writer, rep *graphbuild.Report) error {
	out := struct {
		Nodes int       `json:"nodes"`
		Rows  []jsonRow `json:"rows"`
	}{Nodes: rep.Nodes, Rows: []jsonRow{}}
	for _, r := range rep.Rows {
		jr := jsonRow{Row: r, TookMS: r.Took.Milliseconds()}
		if r.Err != nil {
			jr.Error = r.Err.Error()
		}
		out.Rows = append(out.Rows, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func newGraphShowCmd() *cobra.Command {
	o := &graphOptions{}
	var format string
	cmd := &cobra.Command{
		Use:   "show [flags] [PATTERN...]",
		Short: "Print the graph of a workspace with the cache status of every node",
		Long: `Plan the selected systems and packages as kit graph build does (resolving
images through the lock files) and print the DAG, building nothing. Each node
is "hit" (in the cache), "run" (a build would execute it) or "miss" (not in
the cache, but not needed: every node using it is a hit).

--format text: one line per node (status, kind, name, the systems using it),
then one per system and package. --format json: the same as an object.
--format dot: Graphviz (dot -Tsvg renders it).`,
		Example: `  kit graph show ./...
  kit graph show --format dot ./... | dot -Tsvg > graph.svg
  kit graph show --affected-since HEAD~1 --format json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "text", "json", "dot":
			default:
				return fmt.Errorf("--format %q: want text, json or dot", format)
			}
			ws, sel, err := o.load(cmd, args)
			if err != nil {
				return err
			}
			pr, err := newProgress("plain", cmd.ErrOrStderr(), false)
			if err != nil {
				return err
			}
			opts, err := o.options(pr)
			if err != nil {
				return err
			}
			opts.Build.Events = nil
			g, err := graphbuild.Show(cmd.Context(), ws, sel, opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				return g.WriteJSON(out)
			case "dot":
				return g.WriteDot(out)
			}
			return g.WriteText(out)
		},
	}
	o.flags(cmd, "build-format", "")
	cmd.Flags().StringVar(&format, "format", "text", "output: text, json or dot")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json", "dot"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
