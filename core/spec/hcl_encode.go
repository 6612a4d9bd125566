package spec

import (
	"errors"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// EncodeHCL returns s in kit's HCL form, formatted and deterministic: the
// top-level sections of one implicit system (named after the file it is
// written to), fields in the order of the Go types, map keys sorted.
func EncodeHCL(s *System) ([]byte, error) {
	return nil, errors.New("spec: EncodeHCL is not implemented yet")
}

// FormatHCL formats HCL source canonically (hclwrite.Format).
func FormatHCL(src []byte) []byte { return hclwrite.Format(src) }
