package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/spec"
)

// convertOptions are the flags of `kit convert`.
type convertOptions struct {
	out string
}

func newConvertCmd() *cobra.Command {
	o := &convertOptions{}
	cmd := &cobra.Command{
		Use:   "convert SPEC.yml [-o OUT.kit.hcl]",
		Short: "Convert a YAML spec to HCL",
		Long: `Write the HCL form of a YAML spec: the same system, decoded into the same
Go values, formatted, and the same bytes for the same input. The YAML file's
leading comment is kept; other comments are not. The system of an HCL file
without system blocks is named after the file, so name the output
NAME.kit.hcl. Without -o the HCL is printed.`,
		Example: `  kit convert examples/redis-os.yml -o examples/redis-os.kit.hcl`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, err := spec.ConvertYAML(args[0])
			if err != nil {
				return err
			}
			if o.out == "" || o.out == "-" {
				_, err := cmd.OutOrStdout().Write(out)
				return err
			}
			if err := replaceFile(o.out, out, 0o644); err != nil {
				return fmt.Errorf("convert: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&o.out, "output", "o", "", "write the HCL to this file (default: standard output)")
	return cmd
}
