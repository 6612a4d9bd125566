package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/build"
	"github.com/kitbuild/kit/core/format"
	"github.com/kitbuild/kit/core/graphbuild"
	"github.com/kitbuild/kit/core/spec"
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

	formatConfigs []string
	diskSize      string
	pluginTimeout time.Duration

	// HCL specs
	vars     []string
	varFiles []string
	system   string
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
is a cache lookup.

Formats are built in (kernel+initrd, tar-kernel-initrd, tar, docker) or served
by plugins (see "kit plugin ls"). A format's configuration is a JSON object
given with --format-config FORMAT=JSON or FORMAT=@FILE; a plugin format's is
checked against the JSON Schema the plugin declares before anything is built,
and its "images" key replaces the bootloader/firmware images the format
declares ({"images": {"NAME": "REF"}}). Each plugin used is pinned by its
sha256 in the lock file; a changed binary is refused until --update-lock.

The built-in formats run in process. With KIT_BUILTIN_FORMATS=off they are
skipped and every format comes from a plugin: kit-plugin-format-core serves
the same four formats (same outputs, byte for byte, under cache keys of
their own), and a need of the initrd then uses its kernel+initrd.`,
		Example: `  kit build examples/redis-os.yml
  kit build -f kernel+initrd -f tar -o out --name redis examples/redis-os.yml
  kit build --mirror docker.io=http://127.0.0.1:5000 --explain examples/minimal.yml
  kit build -f qcow2-efi --disk-size 2G examples/redis-os.yml
  kit build -f iso-efi --format-config 'iso-efi={"images":{"grub":"example.com/grub:2"}}' examples/redis-os.yml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.formats, "format", "f", nil, "output format, repeatable (default kernel+initrd); built in: "+strings.Join(format.Names(), ", "))
	f.StringArrayVar(&o.formatConfigs, "format-config", nil, "configuration of a format, FORMAT=JSON or FORMAT=@FILE, repeatable")
	f.StringVar(&o.diskSize, "disk-size", "", "disk size (e.g. 2G, 512M; K, M, G and T are powers of 1024) for every format that takes one (default: derived from the content)")
	f.DurationVar(&o.pluginTimeout, "plugin-timeout", 30*time.Minute, "time a plugin may take for one format build (0: no limit)")
	f.StringArrayVar(&o.vars, "var", nil, "set a variable of an HCL spec, NAME=VALUE (repeatable)")
	f.StringArrayVar(&o.varFiles, "var-file", nil, "read variables of an HCL spec from a file of NAME = VALUE lines (repeatable)")
	f.StringVar(&o.system, "system", "", "the system to build, when the HCL spec holds several")
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
	_ = cmd.RegisterFlagCompletionFunc("format", func(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		builtin, plugins := formatNames(c.Context(), o.cacheDir)
		return append(builtin, plugins...), cobra.ShellCompDirectiveNoFileComp
	})
	// The help lists the plugins' formats too: finding them may start new
	// plugins, so it is done for --help only, not for every command.
	defaultHelp := cmd.HelpFunc()
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		if fl := c.Flags().Lookup("format"); fl != nil && c == cmd {
			builtin, plugins := formatNames(c.Context(), o.cacheDir)
			from := "none found"
			if len(plugins) > 0 {
				from = strings.Join(plugins, ", ")
			}
			fl.Usage = "output format, repeatable (default kernel+initrd); built in: " + strings.Join(builtin, ", ") + "; from plugins: " + from
		}
		defaultHelp(c, args)
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
	configs, err := parseFormatConfigs(o.formatConfigs)
	if err != nil {
		return err
	}
	var diskSize int64
	if o.diskSize != "" {
		if diskSize, err = parseSize(o.diskSize); err != nil {
			return fmt.Errorf("--disk-size %q: %w", o.diskSize, err)
		}
	}
	timeout := o.pluginTimeout
	switch {
	case timeout == 0:
		timeout = -1 // no limit
	case timeout < 0:
		return fmt.Errorf("--plugin-timeout %v: want a positive duration, or 0 for no limit", o.pluginTimeout)
	}
	hcl, err := o.loadHCL(cmd, specs, configs, &formats)
	if err != nil {
		return err
	}
	pr, err := newProgress(o.progress, cmd.ErrOrStderr(), o.explain)
	if err != nil {
		return err
	}
	res, err := build.Run(cmd.Context(), build.Options{
		Specs:           specs,
		System:          hcl.system,
		LockPath:        hcl.lockPath,
		Formats:         formats,
		FormatConfig:    configs,
		DiskSize:        diskSize,
		PluginTimeout:   timeout,
		OutDir:          o.outDir,
		Name:            hcl.name,
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
				if n.Plugin != "" {
					fmt.Fprintf(out, "                plugin: %s\n", n.Plugin)
				}
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

// parseFormatConfigs parses --format-config values, FORMAT=JSON or
// FORMAT=@FILE, into configurations by format name.
func parseFormatConfigs(vals []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	for _, v := range vals {
		name, val, ok := strings.Cut(v, "=")
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("--format-config %q: want FORMAT=JSON or FORMAT=@FILE", v)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("--format-config %s: given twice", name)
		}
		data := []byte(val)
		if file, ok := strings.CutPrefix(val, "@"); ok {
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("--format-config %s: %w", name, err)
			}
			data = b
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
			msg := "want a JSON object"
			if err != nil {
				msg += ": " + err.Error()
			}
			return nil, fmt.Errorf("--format-config %s: %s", name, msg)
		}
		out[name] = json.RawMessage(data)
	}
	return out, nil
}

// parseSize parses a size: a whole number of bytes with an optional unit K,
// M, G or T (powers of 1024; "KiB", "KB" and "k" mean the same).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("want a number of bytes with an optional unit (K, M, G, T)")
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want a number of bytes: %w", err)
	}
	unit := strings.ToUpper(strings.TrimSpace(t[i:]))
	if u, ok := strings.CutSuffix(unit, "IB"); ok && u != "" {
		unit = u
	} else if u, ok := strings.CutSuffix(unit, "B"); ok && u != "" {
		unit = u
	}
	shift := map[string]uint{"": 0, "B": 0, "K": 10, "M": 20, "G": 30, "T": 40}
	sh, ok := shift[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q (want K, M, G or T)", strings.TrimSpace(t[i:]))
	}
	if n > (1<<62)>>sh {
		return 0, fmt.Errorf("too large")
	}
	if n == 0 {
		return 0, fmt.Errorf("want a size above zero")
	}
	return n << sh, nil
}

// hclSystem is the system of an HCL spec that kit build builds.
type hclSystem struct {
	system   *spec.System
	lockPath string
	name     string
}

// loadHCL decodes a single HCL spec with the build's variables and picks the
// system to build (--system, or the file's only one). The system's output
// blocks configure their formats (--format-config wins) and, without -f,
// choose them. For YAML specs it returns the name flag unchanged and no
// system: build.Run loads them.
func (o *buildOptions) loadHCL(cmd *cobra.Command, specs []string, configs map[string]json.RawMessage, formats *[]string) (hclSystem, error) {
	h := hclSystem{name: o.name}
	if len(specs) != 1 || !spec.IsHCL(specs[0]) {
		if len(o.vars) > 0 || len(o.varFiles) > 0 || o.system != "" {
			return h, fmt.Errorf("--var, --var-file and --system apply to a single HCL spec (*.kit.hcl)")
		}
		return h, nil
	}
	vars, err := parseVars(o.vars)
	if err != nil {
		return h, err
	}
	f, err := spec.LoadHCL(specs[0], spec.HCLOptions{Vars: vars, VarFiles: o.varFiles, Env: os.Environ(), Packages: resolvePackage})
	if err != nil {
		var d *spec.Diagnostics
		if errors.As(err, &d) {
			if werr := d.WriteText(cmd.ErrOrStderr(), 0, false); werr != nil {
				return h, werr
			}
			return h, &exitError{code: 1, err: err} // the snippets, then file:line:col lines
		}
		return h, err
	}
	var ns *spec.NamedSystem
	switch {
	case o.system != "":
		if ns, err = f.System(o.system); err != nil {
			return h, err
		}
	case len(f.Systems) == 1:
		ns = &f.Systems[0]
	default:
		return h, fmt.Errorf("%s holds %d systems (%s): choose one with --system NAME, or build them all with kit graph build",
			specs[0], len(f.Systems), strings.Join(f.SystemNames(), ", "))
	}
	for _, w := range ns.System.Warnings() {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
	}
	h.system = ns.System
	h.lockPath = graphbuild.HCLLockPath(specs[0], ns.Name, len(f.Systems))
	if h.name == "" {
		h.name = ns.Name
	}
	explicit := len(o.formats) > 0
	if !explicit && len(ns.Outputs) > 0 {
		*formats = (*formats)[:0]
	}
	for _, out := range ns.Outputs {
		if _, set := configs[out.Format]; !set && !format.EmptyConfig(out.Config) {
			configs[out.Format] = out.Config
		}
		if !explicit {
			*formats = append(*formats, out.Format)
		}
	}
	return h, nil
}
