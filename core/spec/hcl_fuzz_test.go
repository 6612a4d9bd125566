package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeHCL checks that no input crashes the HCL decoder, that every
// error carries a message, and that whatever decodes survives an
// EncodeHCL round trip unchanged.
func FuzzDecodeHCL(f *testing.F) {
	for _, pattern := range []string{"../../examples/*.kit.hcl", "testdata/hcl/*/*.kit.hcl"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{
		"", "kernel {}", "init = []", "system \"a\" {}", "variable \"x\" { default = 1 }\ninit = [tostring(var.x)]",
		"locals { a = local.a }", "service \"a\" { image = \"b\"\n uid = 1.5 }", "file \"a\" { contents = \"${\" }",
		"volume \"a\" { platforms = null }", "service \"a\" { image = \"b\"\n sysctl = { \"a\" = null } }",
		"service \"a\" { image = \"b\"\n resources = { rdma = { x = { hca_handles = 1 } } } }",
		"output \"x\" { a = [1, \"b\", { c = true }] }", "package \"p\" { dir = \".\" }\ninit = [package.p.image]",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := DecodeHCL(filepath.Join(dir, "fuzz.kit.hcl"), data, HCLOptions{})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		for _, ns := range file.Systems {
			text, err := EncodeHCL(ns.System)
			if err != nil {
				t.Fatalf("encoding a decoded system: %v", err)
			}
			again, err := DecodeHCL(filepath.Join(dir, "again.kit.hcl"), text, HCLOptions{})
			if err != nil {
				t.Fatalf("the encoded system does not decode: %v\n%s", err, text)
			}
			if !reflect.DeepEqual(withoutSources(again.Systems[0].System), withoutSources(ns.System)) {
				t.Fatalf("round trip changed the system:\n%s", text)
			}
		}
	})
}
