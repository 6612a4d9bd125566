package cli

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/pkg"
)

// pkgOptions are the flags of `kit pkg build` and `kit pkg show-tag`.
type pkgOptions struct {
	cacheDir   string
	arch       string
	updateLock bool
	locked     bool
	epoch      string
	push       string
	jobs       int
	noCache    bool
	progress   string
	aptRoot    string
	registry   string
}

func newPkgCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pkg",
		Short: "Build package images (OCI images for kit systems) without Docker",
		Long: `A package is a directory with a pkg.yml: Debian packages (pinned in
pkg.lock), Go binaries of this module, local files and an image config.
See docs/packages.md.`,
	}
	cmd.AddCommand(newPkgBuildCmd(), newPkgShowTagCmd())
	return cmd
}

func (o *pkgOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.cacheDir, "cache", "", "cache directory (default $KIT_CACHE or the XDG cache dir)")
	f.StringVar(&o.arch, "arch", runtime.GOARCH, "target architecture: amd64 or arm64")
	f.BoolVar(&o.updateLock, "update-lock", false, "resolve the Debian packages again and rewrite pkg.lock")
	f.BoolVar(&o.locked, "locked", false, "fail if a Debian request is not in pkg.lock (never resolve)")
	f.StringVar(&o.aptRoot, "apt-root", "/", "read the apt configuration (sources, keyrings, apt.conf) under this directory")
	f.StringVar(&o.epoch, "source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "timestamp of every file and of the image, seconds since 1970 (default $SOURCE_DATE_EPOCH, else 0)")
	_ = cmd.RegisterFlagCompletionFunc("arch", cobra.FixedCompletions([]string{"amd64", "arm64"}, cobra.ShellCompDirectiveNoFileComp))
}

func (o *pkgOptions) options(cmd *cobra.Command) (pkg.Options, error) {
	var epoch int64
	if o.epoch != "" {
		n, err := strconv.ParseInt(o.epoch, 10, 64)
		if err != nil || n < 0 {
			return pkg.Options{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want a whole number of seconds since 1970", o.epoch)
		}
		epoch = n
	}
	if o.updateLock && o.locked {
		return pkg.Options{}, fmt.Errorf("--update-lock and --locked contradict each other")
	}
	dir := o.cacheDir
	if dir == "" {
		dir = cache.DefaultDir()
	}
	store, err := cache.Open(dir)
	if err != nil {
		return pkg.Options{}, err
	}
	return pkg.Options{
		Arch: o.arch, Store: store, AptRoot: o.aptRoot, UpdateLock: o.updateLock, Locked: o.locked,
		SourceDateEpoch: epoch, Jobs: o.jobs, NoCache: o.noCache,
	}, nil
}

func newPkgBuildCmd() *cobra.Command {
	o := &pkgOptions{}
	cmd := &cobra.Command{
		Use:   "build [flags] DIR...",
		Short: "Build the packages in DIR... into the kit cache (and push them)",
		Long: `Build the package defined by DIR/pkg.yml into the kit cache and print
its reference, manifest digest and size. The image is deterministic: the same
pkg.yml, pkg.lock, files and Go sources give the same digest. Debian packages
missing from pkg.lock are resolved against the machine's apt sources and
pinned there. Every step is cached: a rebuild of unchanged inputs is a cache
lookup. --push REF pushes the image (REF without a tag gets the content tag),
--registry R pushes each image to R/IMAGE:TAG; loopback registries are
reached over plain HTTP.`,
		Example: `  kit pkg build examples/packages/redis
  kit pkg build --push 127.0.0.1:5000/kit/redis examples/packages/redis
  kit pkg build --registry 127.0.0.1:5000 examples/packages/*`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.push != "" && len(args) > 1 {
				return fmt.Errorf("--push names one image: give one DIR, or use --registry")
			}
			if o.push != "" && o.registry != "" {
				return fmt.Errorf("give --push or --registry, not both")
			}
			opts, err := o.options(cmd)
			if err != nil {
				return err
			}
			pr, err := newProgress(o.progress, cmd.ErrOrStderr(), false)
			if err != nil {
				return err
			}
			opts.Events = pr.Event
			opts.Logf = func(f string, a ...any) { pr.Printf(f+"\n", a...) }
			var results []*pkg.Result
			for _, dir := range args {
				res, err := pkg.Build(cmd.Context(), dir, opts)
				if err == nil && (o.push != "" || o.registry != "") {
					to := o.push
					if to == "" {
						to = strings.TrimSuffix(o.registry, "/") + "/" + strings.TrimSuffix(res.Ref, ":"+res.Tag)
					}
					res.Pushed, err = pkg.Push(cmd.Context(), opts.Store, res.Digest, to, res.Tag)
				}
				if err != nil {
					pr.Close()
					return err
				}
				results = append(results, res)
			}
			pr.Close()
			out := cmd.OutOrStdout()
			for _, res := range results {
				fmt.Fprintf(out, "%s\t%s\t%d\n", res.Ref, res.Digest, res.Size)
				if res.Pushed != "" {
					fmt.Fprintf(out, "pushed %s\n", res.Pushed)
				}
			}
			return nil
		},
	}
	o.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.push, "push", "", "push the image to REF (e.g. 127.0.0.1:5000/kit/redis; the content tag is added when REF has none)")
	f.StringVar(&o.registry, "registry", "", "push every image to REGISTRY[/PATH]/IMAGE:TAG (e.g. 127.0.0.1:5000 → 127.0.0.1:5000/kit/redis:TAG)")
	f.IntVar(&o.jobs, "jobs", runtime.NumCPU(), "steps to run at once")
	f.BoolVar(&o.noCache, "no-cache", false, "do not use cached results (results are still recorded)")
	f.StringVar(&o.progress, "progress", "auto", "progress output: auto, tty, plain or json")
	return cmd
}

func newPkgShowTagCmd() *cobra.Command {
	o := &pkgOptions{}
	cmd := &cobra.Command{
		Use:   "show-tag [flags] DIR...",
		Short: "Print the content-derived IMAGE:TAG of the packages in DIR...",
		Long: `Print IMAGE:TAG of each package without building it. The tag is
derived from the build plan's keys: pkg.yml, pkg.lock, the local files, the
Go sources and toolchain, the architecture and SOURCE_DATE_EPOCH. Debian
requests missing from pkg.lock are resolved (and written) first.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := o.options(cmd)
			if err != nil {
				return err
			}
			for _, dir := range args {
				def, err := pkg.Load(dir)
				if err != nil {
					return err
				}
				p, err := pkg.NewPlan(cmd.Context(), def, opts.Store, opts)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), p.Ref)
			}
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}
