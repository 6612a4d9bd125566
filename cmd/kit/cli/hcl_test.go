package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/spec"
)

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFmt(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.kit.hcl")
	bad := filepath.Join(dir, "sub", "bad.kit.hcl")
	hidden := filepath.Join(dir, ".git", "x.hcl")
	other := filepath.Join(dir, "notes.txt")
	writeTestFile(t, good, "init = [\"a\"]\n\nkernel {\n  image   = \"k\"\n  cmdline = \"c\"\n}\n")
	writeTestFile(t, bad, "kernel {\nimage = \"k\"\n    cmdline=\"c\"\n}\n")
	writeTestFile(t, hidden, "a=1\n")
	writeTestFile(t, other, "a=1\n")

	out, _, code := runKit(t, "fmt", "--check", dir)
	if code != 1 || out != bad+"\n" {
		t.Fatalf("fmt --check: code %d, out %q", code, out)
	}
	if b, _ := os.ReadFile(bad); !strings.Contains(string(b), "    cmdline=") {
		t.Fatal("--check changed a file")
	}
	out, _, code = runKit(t, "fmt", bad)
	if code != 0 || out != "kernel {\n  image   = \"k\"\n  cmdline = \"c\"\n}\n" {
		t.Fatalf("fmt: code %d, out %q", code, out)
	}
	out, _, code = runKit(t, "fmt", "-w", dir)
	if code != 0 || out != bad+"\n" {
		t.Fatalf("fmt -w: code %d, out %q", code, out)
	}
	if out, _, code = runKit(t, "fmt", "--check", dir); code != 0 || out != "" {
		t.Fatalf("fmt --check after -w: code %d, out %q", code, out)
	}
	// A syntax error is reported with its diagnostics, never rewritten.
	broken := filepath.Join(dir, "broken.kit.hcl")
	writeTestFile(t, broken, "kernel {\n  image = \n}\n")
	_, errOut, code := runKit(t, "fmt", "-w", broken)
	if code != 1 || !strings.Contains(errOut, "Error: Invalid expression") || !strings.Contains(errOut, "broken.kit.hcl line 2") {
		t.Fatalf("fmt of a broken file: code %d, stderr %q", code, errOut)
	}
	// The committed HCL examples are formatted.
	if out, _, code := runKit(t, "fmt", "--check", "../../../examples"); code != 0 {
		t.Errorf("examples not formatted: %s", out)
	}
}

func TestConvert(t *testing.T) {
	out, _, code := runKit(t, "convert", "../../../examples/redis-os.yml")
	want, err := os.ReadFile("../../../examples/redis-os.kit.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || out != string(want) {
		t.Fatalf("convert: code %d, out:\n%s", code, out)
	}
	dst := filepath.Join(t.TempDir(), "sshd.kit.hcl")
	if _, errOut, code := runKit(t, "convert", "../../../examples/sshd.yml", "-o", dst); code != 0 {
		t.Fatalf("convert -o: %s", errOut)
	}
	s, err := spec.Load(dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Services) != 3 || s.Files[0].Path != "root/.ssh/authorized_keys" {
		t.Errorf("converted spec = %+v", s)
	}
	if _, errOut, code := runKit(t, "convert", "../../../examples/none.yml"); code != 1 || !strings.Contains(errOut, "none.yml") {
		t.Errorf("convert of a missing file: %d %q", code, errOut)
	}
}

func TestValidateHCL(t *testing.T) {
	dir := t.TempDir()
	specFile := filepath.Join(dir, "app.kit.hcl")
	writeTestFile(t, specFile, `variable "registry" {
  type = string
}
variable "replicas" {
  type    = number
  default = 1
  validation {
    condition     = var.replicas < 4
    error_message = "At most 3 replicas."
  }
}
system "app" {
  init = ["${var.registry}/init:v1"]
}
system "db" {
  init = ["${var.registry}/init:v1"]
}
`)
	varFile := filepath.Join(dir, "prod.hcl")
	writeTestFile(t, varFile, "replicas = 2\n")

	// A required variable without a value.
	_, errOut, code := runKit(t, "validate", specFile)
	if code != 1 || !strings.Contains(errOut, "Error: No value for required variable") || !strings.Contains(errOut, `1: variable "registry" {`) {
		t.Fatalf("validate without --var: code %d, stderr:\n%s", code, errOut)
	}
	out, errOut, code := runKit(t, "validate", "--var", "registry=example.com", "--var-file", varFile, "--system", "db", specFile)
	if code != 0 || out != "1 spec file(s) valid\n" {
		t.Fatalf("validate: code %d, out %q, stderr %q", code, out, errOut)
	}
	t.Setenv("KIT_VAR_registry", "env.example")
	if _, errOut, code := runKit(t, "validate", specFile); code != 0 {
		t.Fatalf("validate with KIT_VAR_registry: %s", errOut)
	}
	_, errOut, code = runKit(t, "validate", "--var", "replicas=7", specFile)
	if code != 1 || !strings.Contains(errOut, "At most 3 replicas.") {
		t.Fatalf("validation rule: code %d, stderr %q", code, errOut)
	}
	_, errOut, code = runKit(t, "validate", "--system", "web", specFile)
	if code != 1 || !strings.Contains(errOut, `no system "web" (systems: app, db)`) {
		t.Fatalf("--system web: code %d, stderr %q", code, errOut)
	}
	if _, errOut, code = runKit(t, "validate", "--var", "novalue", specFile); code != 1 || !strings.Contains(errOut, "want NAME=VALUE") {
		t.Fatalf("--var without =: %q", errOut)
	}

	// Problems print as HCL tools print them: the location, the source
	// line, the range underlined.
	bad := filepath.Join(dir, "bad.kit.hcl")
	writeTestFile(t, bad, "service \"web\" {\n  image        = \"nginx:1\"\n  capabilities = [\"CAP_NET_BIND\"]\n}\n")
	_, errOut, code = runKit(t, "validate", bad, "../../../examples/minimal.yml")
	if code != 1 {
		t.Fatalf("code %d", code)
	}
	for _, want := range []string{
		"Error: Invalid value",
		"on " + bad + " line 3, in service \"web\":",
		`3:   capabilities = ["CAP_NET_BIND"]`,
		`service "web": capabilities[0]: unknown capability "CAP_NET_BIND"`,
		"kit: 1 spec file(s) invalid",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// TestHCLPackageRef: kit build (spec.Load) resolves package.NAME.image to
// the tag kit pkg show-tag prints, under the block's registry.
func TestHCLPackageRef(t *testing.T) {
	t.Setenv("KIT_CACHE", t.TempDir())
	t.Setenv("SOURCE_DATE_EPOCH", "")
	pkgDir, err := filepath.Abs("../../../examples/packages/redis")
	if err != nil {
		t.Fatal(err)
	}
	tag, errOut, code := runKit(t, "pkg", "show-tag", "--locked", pkgDir)
	if code != 0 {
		t.Skipf("kit pkg show-tag --locked: %s", errOut)
	}
	specFile := filepath.Join(t.TempDir(), "r.kit.hcl")
	writeTestFile(t, specFile, "package \"redis\" {\n  dir      = \""+pkgDir+"\"\n  registry = \"127.0.0.1:5000\"\n}\nservice \"redis\" {\n  image = package.redis.image\n}\n")
	s, err := spec.Load(specFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := "127.0.0.1:5000/" + strings.TrimSpace(tag); s.Services[0].Image != want {
		t.Errorf("image = %q, want %q", s.Services[0].Image, want)
	}
}
