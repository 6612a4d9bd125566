package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/build"
	"github.com/kitbuild/kit/core/format"
)

// buildOptions are the flags of `kit build`.
type buildOptions struct {
	formats  []string
	outDir   string
	name     string
	arch     string
	jobs     int
	mirrors  []string
	cacheDir string
	pull     bool
	noCache  bool
	explain  bool
	dryRun   bool
	progress string
	epoch    string
	locked   bool
}

func newBuildCmd() *cobra.Command {
	o := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build [flags] SPEC...",
		Short: "Build a system from one or more specs",
		Long: `Build a system from one or more specs (merged in order: lists append,
kernel fields are last-wins) into the artifacts of each format.

Image tags are resolved to digests once and recorded in a lock file beside
the first spec (redis-os.yml → redis-os.lock); later builds use the lock
unless --pull is given. Every step is cached: a rebuild of an unchanged spec
is a cache lookup.`,
		Example: `  kit build examples/redis-os.yml
  kit build -f kernel+initrd -f tar -o out --name redis examples/redis-os.yml
  kit build --mirror docker.io=http://127.0.0.1:5000 --explain examples/minimal.yml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.formats, "format", "f", nil, "output format, repeatable (default kernel+initrd); one of: "+strings.Join(format.Names(), ", "))
	f.StringVarP(&o.outDir, "dir", "o", ".", "output directory")
	f.StringVar(&o.name, "name", "", "base name of the outputs (default: the first spec's file name without extension)")
	f.StringVar(&o.arch, "arch", runtime.GOARCH, "target architecture: amd64 or arm64")
	f.IntVar(&o.jobs, "jobs", runtime.NumCPU(), "steps to run at once")
	f.StringArrayVar(&o.mirrors, "mirror", nil, "registry mirror REGISTRY=URL, repeatable (e.g. docker.io=http://127.0.0.1:5000)")
	f.StringVar(&o.cacheDir, "cache", "", "cache directory (default $KIT_CACHE or the XDG cache dir)")
	f.BoolVar(&o.pull, "pull", false, "resolve tags at the registry again and update the lock file")
	f.BoolVar(&o.pull, "update-lock", false, "same as --pull")
	f.BoolVar(&o.locked, "locked", false, "fail if an image tag is not in the lock file (never ask a registry for a tag)")
	f.BoolVar(&o.noCache, "no-cache", false, "do not use cached results (results are still recorded)")
	f.BoolVar(&o.explain, "explain", false, "print, for each step, whether it hit the cache and why not")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan (with cache status) and build nothing")
	f.StringVar(&o.progress, "progress", "auto", "progress output: auto, tty, plain or json")
	f.StringVar(&o.epoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "timestamp for every file in the artifacts, seconds since 1970 (default $SOURCE_DATE_EPOCH, else 0)")
	_ = cmd.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return format.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("arch", cobra.FixedCompletions([]string{"amd64", "arm64"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{"auto", "tty", "plain", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *buildOptions) run(cmd *cobra.Command, specs []string) error {
	mirrors := map[string]string{}
	for _, m := range o.mirrors {
		reg, url, ok := strings.Cut(m, "=")
		if !ok || reg == "" || url == "" {
			return fmt.Errorf("--mirror %q: want REGISTRY=URL", m)
		}
		mirrors[reg] = url
	}
	var epoch int64
	if o.epoch != "" {
		n, err := strconv.ParseInt(o.epoch, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: want a whole number of seconds since 1970", o.epoch)
		}
		epoch = n
	}
	formats := o.formats
	if len(formats) == 0 {
		formats = []string{"kernel+initrd"}
	}
	pr, err := newProgress(o.progress, cmd.ErrOrStderr(), o.explain)
	if err != nil {
		return err
	}
	res, err := build.Run(cmd.Context(), build.Options{
		Specs:           specs,
		Formats:         formats,
		OutDir:          o.outDir,
		Name:            o.name,
		Arch:            o.arch,
		Jobs:            o.jobs,
		Mirrors:         mirrors,
		CacheDir:        o.cacheDir,
		Pull:            o.pull,
		Locked:          o.locked,
		NoCache:         o.noCache,
		Explain:         o.explain,
		DryRun:          o.dryRun,
		SourceDateEpoch: epoch,
		Events:          pr.Event,
		Warnf:           func(f string, a ...any) { pr.Printf("warning: "+f+"\n", a...) },
	})
	pr.Close()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.dryRun {
		if o.progress == "json" {
			return json.NewEncoder(out).Encode(res.Plan)
		}
		for _, n := range res.Plan {
			fmt.Fprintf(out, "%-4s  %-9s %s\n", n.Status, n.Kind, n.Node)
			if o.explain {
				for _, r := range n.Reasons {
					fmt.Fprintf(out, "                because: %s\n", r)
				}
			}
		}
		return nil
	}
	for _, a := range res.Artifacts {
		fmt.Fprintf(out, "%s\t%s\t%d\n", a.Path, a.Digest, a.Size)
	}
	return nil
}
