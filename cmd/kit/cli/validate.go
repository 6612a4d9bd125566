package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/spec"
)

// validateOptions are the flags of `kit validate`.
type validateOptions struct {
	merge bool
}

func newValidateCmd() *cobra.Command {
	o := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate [--merge] SPEC...",
		Short: "Check specs without building",
		Long: `Check specs for syntax errors, unknown keys, wrong types, duplicate names
and invalid values. Every problem is reported as file:line:col. Nothing is
fetched. Each spec is checked on its own, unless --merge checks them merged
in order, as "kit build SPEC..." would.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			groups := [][]string{args}
			if !o.merge {
				groups = groups[:0]
				for _, a := range args {
					groups = append(groups, []string{a})
				}
			}
			var errs []error
			for _, g := range groups {
				sys, err := spec.Load(g...)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				for _, w := range sys.Warnings() {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
				}
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d spec file(s) valid\n", len(args))
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.merge, "merge", false, "check the specs merged in order, as one system")
	return cmd
}
