package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// hclSpec has two systems sharing a variable-driven registry: "small" is
// smallSpec in HCL, with an output block choosing the tar format; "tiny"
// leaves the services out.
const hclSpec = `variable "registry" {
  type = string
}

variable "greeting" {
  type    = string
  default = "hello"
}

locals {
  kernel = "${var.registry}/e2e/kernel:1"
  init   = ["${var.registry}/e2e/init:1", "${var.registry}/e2e/runc:1"]
}

system "small" {
  kernel {
    image   = local.kernel
    cmdline = "console=ttyS0"
    ucode   = "intel-ucode.cpio"
  }
  init = local.init
  onboot "sysctl" {
    image    = "${var.registry}/e2e/sysctl:1"
    readonly = true
  }
  service "getty" {
    image = "${var.registry}/e2e/getty:1"
  }
  service "redis" {
    image = "${var.registry}/e2e/redis:1"
    uid   = "redis"
  }
  file "etc/kit/hello" {
    contents = "${var.greeting}\n"
  }
  volume "data" {
    image = "${var.registry}/e2e/data:1"
  }
  output "tar" {}
}

system "tiny" {
  kernel {
    image   = local.kernel
    cmdline = "console=ttyS0"
  }
  init = local.init
}
`

// TestBuildHCL builds systems of an HCL spec with kit build: --system picks
// one, --var sets a variable, an output block chooses the format, and the
// artifacts equal those of the same system written in YAML. A file with
// several systems and no --system, an undeclared variable and a type error
// are refused with the file, line and column (and a source snippet).
func TestBuildHCL(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	hcl := writeFile(t, filepath.Join(dir, "systems.kit.hcl"), hclSpec)
	yml := f.spec(t, dir, "small.yml", smallSpec)

	outH := filepath.Join(dir, "out-hcl")
	mustKit(t, dir, "build", "--cache", cache, "-o", outH, "--system", "small", "--var", "registry="+f.reg.Host(), hcl)
	got := digests(t, outH)
	if _, ok := got["small.tar"]; !ok || len(got) != 1 {
		t.Fatalf("HCL build wrote %v, want only small.tar (the output block's format, named after the system)", keys(got))
	}
	outY := filepath.Join(dir, "out-yaml")
	mustKit(t, dir, "build", "--cache", cache, "-o", outY, "-f", "tar", yml)
	if want := digests(t, outY); got["small.tar"] != want["small.tar"] {
		t.Errorf("small.tar from HCL (%s) differs from the YAML system's (%s)", got["small.tar"], want["small.tar"])
	}
	// Each system of a file with several has a lock of its own.
	if _, err := os.Stat(filepath.Join(dir, "systems.kit.small.lock")); err != nil {
		t.Errorf("lock of system small: %v", err)
	}

	// -f overrides the output blocks; a variable from the environment.
	outT := filepath.Join(dir, "out-tiny")
	r := kitEnv(t, dir, []string{"KIT_VAR_registry=" + f.reg.Host()}, "build", "--cache", cache, "-o", outT, "--system", "tiny", "-f", "kernel+initrd", hcl)
	if r.code != 0 {
		t.Fatalf("tiny: exit %d\n%s", r.code, r.stderr)
	}
	if names := keys(digests(t, outT)); !slices.Equal(names, []string{"tiny-cmdline", "tiny-initrd.img", "tiny-kernel"}) {
		t.Errorf("tiny wrote %v", names)
	}

	for _, tc := range []struct {
		name, text string
		args       []string
		want       []string
	}{
		{"no system chosen", hclSpec, nil, []string{"holds 2 systems (small, tiny)", "--system NAME"}},
		{"unknown system", hclSpec, []string{"--system", "huge"}, []string{"huge"}},
		{"undeclared variable", hclSpec, []string{"--system", "tiny", "--var", "colour=red"}, []string{"colour"}},
		{"type error", strings.Replace(hclSpec, `readonly = true`, `readonly = "yes please"`, 1),
			[]string{"--system", "small"}, []string{"bad.kit.hcl:24:16", "24:     readonly = \"yes please\"", "want true or false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, filepath.Join(dir, "bad.kit.hcl"), tc.text)
			out := filepath.Join(dir, "out-bad")
			args := append([]string{"build", "--cache", cache, "-o", out, "--var", "registry=" + f.reg.Host()}, tc.args...)
			r := kit(t, dir, append(args, p)...)
			if r.code == 0 {
				t.Fatalf("kit build succeeded:\n%s", r.stdout)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			noFiles(t, "output directory", out)
		})
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
