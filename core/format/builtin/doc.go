// Package builtin registers every output format compiled into kit; import
// it for its side effect: import _ "github.com/kitbuild/kit/core/format/builtin".
package builtin

import (
	// Each format package registers its formats in init.
	_ "github.com/kitbuild/kit/core/format/initrd"
	_ "github.com/kitbuild/kit/core/format/tarfmt"
)
