package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/cache"
	"github.com/kitbuild/kit/core/pkg"
	"github.com/kitbuild/kit/core/spec"
)

// validateOptions are the flags of `kit validate`.
type validateOptions struct {
	merge    bool
	vars     []string
	varFiles []string
	system   string
}

func newValidateCmd() *cobra.Command {
	o := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate [--merge] [--var NAME=VALUE] [--var-file FILE] [--system NAME] SPEC...",
		Short: "Check specs without building",
		Long: `Check specs for syntax errors, unknown keys, wrong types, duplicate names
and invalid values. Every problem is reported as file:line:col; problems in
HCL specs (*.hcl) are printed with the source lines they point at. Nothing is
fetched and no package is planned (package.NAME.image stands for a
placeholder). Each spec is checked on its own, unless --merge checks them
merged in order, as "kit build SPEC..." would.

The variables of HCL specs come from --var NAME=VALUE (repeatable),
--var-file FILE (HCL NAME = VALUE lines, repeatable) and KIT_VAR_NAME in the
environment; --var wins over --var-file, which wins over the environment,
which wins over the default. --system NAME checks that an HCL spec has a
system of that name.`,
		Example: `  kit validate examples/redis-os.yml
  kit validate --var registry=127.0.0.1:5000 systems.kit.hcl`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.merge, "merge", false, "check the specs merged in order, as one system")
	f.StringArrayVar(&o.vars, "var", nil, "set a variable of HCL specs, NAME=VALUE (repeatable)")
	f.StringArrayVar(&o.varFiles, "var-file", nil, "read variables of HCL specs from a file of NAME = VALUE lines (repeatable)")
	f.StringVar(&o.system, "system", "", "the system an HCL spec must have")
	return cmd
}

// parseVars parses --var NAME=VALUE flags.
func parseVars(vars []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vars {
		name, value, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--var %q: want NAME=VALUE", v)
		}
		out[name] = value
	}
	return out, nil
}

func (o *validateOptions) run(cmd *cobra.Command, args []string) error {
	vars, err := parseVars(o.vars)
	if err != nil {
		return err
	}
	hclOpts := spec.HCLOptions{Vars: vars, VarFiles: o.varFiles, Env: os.Environ()}
	groups := [][]string{args}
	if !o.merge {
		groups = groups[:0]
		for _, a := range args {
			groups = append(groups, []string{a})
		}
	}
	var (
		errs    []error
		invalid int
	)
	for _, g := range groups {
		var warnings []*spec.Error
		if len(g) == 1 && spec.IsHCL(g[0]) {
			f, err := spec.LoadHCL(g[0], hclOpts)
			if err != nil {
				invalid++
				if werr := spec.WriteError(cmd.ErrOrStderr(), err, 0, false); werr != nil {
					return werr
				}
				continue
			}
			if o.system != "" {
				if _, err := f.System(o.system); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			for _, s := range f.Systems {
				warnings = append(warnings, s.System.Warnings()...)
			}
		} else {
			sys, err := spec.Load(g...)
			if err != nil {
				var d *spec.Diagnostics
				if errors.As(err, &d) {
					invalid++
					if werr := d.WriteText(cmd.ErrOrStderr(), 0, false); werr != nil {
						return werr
					}
					continue
				}
				errs = append(errs, err)
				continue
			}
			warnings = sys.Warnings()
		}
		for _, w := range warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
		}
	}
	if invalid > 0 {
		errs = append(errs, fmt.Errorf("%d spec file(s) invalid", invalid))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d spec file(s) valid\n", len(args))
	return nil
}

// kit build loads an HCL spec through spec.Load; its package.NAME.image
// references are resolved here to the package's content-tagged reference,
// as kit pkg show-tag computes it for the host's architecture and
// $SOURCE_DATE_EPOCH, from pkg.lock only (never asking a Debian mirror),
// under the block's registry (where kit pkg build --registry pushed it).
func init() { spec.SetPackageResolver(resolvePackage) }

// resolvePackage gives a package block's image reference (see init).
func resolvePackage(p spec.PackageBlock) (string, error) {
	{
		var epoch int64
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return "", fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
			}
			epoch = n
		}
		def, err := pkg.Load(p.Dir)
		if err != nil {
			return "", err
		}
		store, err := cache.Open(cache.DefaultDir())
		if err != nil {
			return "", err
		}
		plan, err := pkg.NewPlan(context.Background(), def, store, pkg.Options{
			Arch: runtime.GOARCH, Locked: true, SourceDateEpoch: epoch,
		})
		if err != nil {
			return "", err
		}
		if p.Registry != "" {
			return p.Registry + "/" + plan.Ref, nil
		}
		return plan.Ref, nil
	}
}
