package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// varSpec declares variables of several types and uses them.
const varSpec = `
variable "registry" {
  type    = string
  default = "linuxkit"
}
variable "replicas" {
  type    = number
  default = 1
  validation {
    condition     = var.replicas >= 1 && var.replicas <= 3
    error_message = "replicas must be between 1 and 3."
  }
}
variable "debug" {
  type    = bool
  default = false
}
variable "caps" {
  type    = list(string)
  default = ["CAP_CHOWN"]
}
variable "sysctl" {
  type    = map(string)
  default = {}
}
variable "extra" {
  default = "none"
}

init = ["${var.registry}/init:v1.1.0"]

service "app" {
  image        = "${var.registry}/app:v1"
  command      = concat(["/app", "--replicas", tostring(var.replicas)], var.debug ? ["--debug"] : [])
  capabilities = var.caps
  sysctl       = var.sysctl
  env          = ["EXTRA=${var.extra}"]
}
`

func decodeVars(t *testing.T, opts HCLOptions) (*Image, []string, error) {
	t.Helper()
	f, err := DecodeHCL(filepath.Join(t.TempDir(), "vars.kit.hcl"), []byte(varSpec), opts)
	if err != nil {
		return nil, nil, err
	}
	s := f.Systems[0].System
	return s.Services[0], s.Init, nil
}

func TestHCLVariables(t *testing.T) {
	dir := t.TempDir()
	varFile := filepath.Join(dir, "a.kitvars.hcl")
	if err := os.WriteFile(varFile, []byte("registry = \"file.example\"\nreplicas = 2\ncaps = [\"CAP_KILL\", \"CAP_SETUID\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	varFile2 := filepath.Join(dir, "b.kitvars.hcl")
	if err := os.WriteFile(varFile2, []byte("replicas = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		opts     HCLOptions
		init     string
		command  []string
		caps     []string
		sysctl   map[string]string
		env      string
		wantErr  string
		errAtVar string // the diagnostic's file, for values from -var and the environment
	}{
		{name: "defaults", init: "linuxkit/init:v1.1.0",
			command: []string{"/app", "--replicas", "1"}, caps: []string{"CAP_CHOWN"}, sysctl: map[string]string{}, env: "EXTRA=none"},
		{name: "environment", opts: HCLOptions{Env: []string{"KIT_VAR_registry=env.example", "KIT_VAR_debug=true", "KIT_VAR_caps=[\"CAP_NET_RAW\"]", "KIT_VAR_undeclared=1", "PATH=/bin"}},
			init: "env.example/init:v1.1.0", command: []string{"/app", "--replicas", "1", "--debug"}, caps: []string{"CAP_NET_RAW"}, sysctl: map[string]string{}, env: "EXTRA=none"},
		{name: "var file over environment", opts: HCLOptions{Env: []string{"KIT_VAR_registry=env.example"}, VarFiles: []string{varFile}},
			init: "file.example/init:v1.1.0", command: []string{"/app", "--replicas", "2"}, caps: []string{"CAP_KILL", "CAP_SETUID"}, sysctl: map[string]string{}, env: "EXTRA=none"},
		{name: "later var file wins", opts: HCLOptions{VarFiles: []string{varFile, varFile2}},
			init: "file.example/init:v1.1.0", command: []string{"/app", "--replicas", "3"}, caps: []string{"CAP_KILL", "CAP_SETUID"}, sysctl: map[string]string{}, env: "EXTRA=none"},
		{name: "-var over var file", opts: HCLOptions{VarFiles: []string{varFile}, Env: []string{"KIT_VAR_registry=env.example"}, Vars: map[string]string{"registry": "cli.example", "sysctl": `{"net.ipv4.ip_forward" = "1"}`, "extra": "[not parsed]"}},
			init: "cli.example/init:v1.1.0", command: []string{"/app", "--replicas", "2"}, caps: []string{"CAP_KILL", "CAP_SETUID"}, sysctl: map[string]string{"net.ipv4.ip_forward": "1"}, env: "EXTRA=[not parsed]"},
		{name: "number from a string", opts: HCLOptions{Vars: map[string]string{"replicas": "3"}},
			init: "linuxkit/init:v1.1.0", command: []string{"/app", "--replicas", "3"}, caps: []string{"CAP_CHOWN"}, sysctl: map[string]string{}, env: "EXTRA=none"},
		{name: "validation", opts: HCLOptions{Vars: map[string]string{"replicas": "5"}},
			wantErr: "Invalid value for variable; var.replicas: replicas must be between 1 and 3."},
		{name: "validation of a var file value", opts: HCLOptions{VarFiles: []string{writeFile(t, dir, "bad.hcl", "replicas = 0\n")}},
			wantErr: "bad.hcl:1:12: Invalid value for variable; var.replicas: replicas must be between 1 and 3."},
		{name: "wrong type", opts: HCLOptions{Vars: map[string]string{"replicas": "many"}},
			wantErr: "Invalid value for variable; var.replicas: a number is required (want number)."},
		{name: "wrong type of a complex value", opts: HCLOptions{Vars: map[string]string{"caps": `"CAP_KILL"`}},
			wantErr: "Invalid value for variable; var.caps: list of string required, but have string (want list(string)).", errAtVar: "<value for var.caps from -var>"},
		{name: "bad expression", opts: HCLOptions{Vars: map[string]string{"caps": `[`}},
			wantErr: "<value for var.caps from -var>:1:2: Missing expression", errAtVar: "<value for var.caps from -var>"},
		{name: "undeclared -var", opts: HCLOptions{Vars: map[string]string{"regsitry": "x"}},
			wantErr: `Value for undeclared variable; -var regsitry=...: the spec declares no variable "regsitry" (declared: registry, replicas, debug, caps, sysctl, extra).`},
		{name: "undeclared in a var file", opts: HCLOptions{VarFiles: []string{writeFile(t, dir, "undeclared.hcl", "registry = \"x\"\nregsitry = \"y\"\n")}},
			wantErr: `undeclared.hcl:2:1: Value for undeclared variable; The spec declares no variable "regsitry"`},
		{name: "var file with a reference", opts: HCLOptions{VarFiles: []string{writeFile(t, dir, "ref.hcl", "registry = var.x\n")}},
			wantErr: "ref.hcl:1:12: Variables not allowed"},
		{name: "missing var file", opts: HCLOptions{VarFiles: []string{filepath.Join(dir, "none.hcl")}},
			wantErr: "Cannot read variable file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, init, err := decodeVars(t, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v\nwant one containing %q", err, tc.wantErr)
				}
				var d *Diagnostics
				if tc.errAtVar != "" && errors.As(err, &d) {
					if d.Diags[0].Subject == nil || d.Diags[0].Subject.Filename != tc.errAtVar || d.Files[tc.errAtVar] == nil {
						t.Errorf("diagnostic subject %v, want in %q with its source", d.Diags[0].Subject, tc.errAtVar)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if init[0] != tc.init || !reflect.DeepEqual(*img.Command, tc.command) || !reflect.DeepEqual(*img.Capabilities, tc.caps) ||
				!reflect.DeepEqual(*img.Sysctl, tc.sysctl) || (*img.Env)[0] != tc.env {
				t.Errorf("got init %q command %q caps %q sysctl %v env %q", init[0], *img.Command, *img.Capabilities, *img.Sysctl, *img.Env)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHCLFunctions: file, templatefile and fileexists read relative to the
// spec's directory (not the working directory); sha256 and the standard
// library give what Terraform's would.
func TestHCLFunctions(t *testing.T) {
	path := "testdata/hcl/funcs/funcs.kit.hcl"
	f, err := LoadHCL(path, HCLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, file := range f.Systems[0].System.Files {
		files[file.Path] = *file.Contents
	}
	want := map[string]string{
		"etc/motd":        "Welcome to kit.\n",
		"etc/motd.sha256": "40d14c7c5052b95462dd7adc3e64cb42300832092da0a55d513fa0bf19ae2f22  /etc/motd\n",
		"etc/app.conf":    "name = kit\nhost = a\nhost = b\n",
		"etc/app.yaml":    "hosts:\n    - a\n    - b\n    - c\nname: KIT\nport: 80\n",
		"etc/app.json":    `{"a":1,"b":"y"}`,
		"etc/misc":        "007,abc,2,4,aGk=,c.txt,true,false,fallback,x,a_b,p+q",
	}
	if !reflect.DeepEqual(files, want) {
		for k, v := range files {
			if want[k] != v {
				t.Errorf("%s = %q, want %q", k, v, want[k])
			}
		}
	}
	wantInputs := []string{path, "testdata/hcl/funcs/files/motd.txt", "testdata/hcl/funcs/files/app.conf.tftpl"}
	if !reflect.DeepEqual(f.Inputs, wantInputs) {
		t.Errorf("inputs = %q, want %q", f.Inputs, wantInputs)
	}
	// The same spec loaded from another working directory reads the same
	// files.
	abs, _ := filepath.Abs(path)
	t.Chdir(t.TempDir())
	g, err := LoadHCL(abs, HCLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(withoutSources(g.Systems[0].System), withoutSources(f.Systems[0].System)) {
		t.Error("the spec decodes differently from another directory")
	}
}

// TestHCLTemplateErrors: a broken template reports where in the template.
func TestHCLTemplateErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "t.tftpl", "line one\nvalue = ${nope}\n")
	_, err := DecodeHCL(filepath.Join(dir, "s.kit.hcl"), []byte("file \"x\" {\n  contents = templatefile(\"t.tftpl\", {})\n}\n"), HCLOptions{})
	if err == nil || !strings.Contains(err.Error(), "t.tftpl:2:11: Unknown variable") {
		t.Fatalf("error = %v", err)
	}
}

func TestHCLSystemsAndPackages(t *testing.T) {
	path := "testdata/hcl/multi/systems.kit.hcl"
	var asked []PackageBlock
	f, err := LoadHCL(path, HCLOptions{
		Vars: map[string]string{"registry": "example.com"},
		Packages: func(p PackageBlock) (string, error) {
			asked = append(asked, p)
			return p.Registry + "/kit/" + p.Name + ":0123456789abcdef0123", nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.SystemNames(); !reflect.DeepEqual(got, []string{"web", "db"}) {
		t.Fatalf("systems = %q", got)
	}
	web, err := f.System("web")
	if err != nil {
		t.Fatal(err)
	}
	if web.System.Kernel.Image != "example.com/kernel:6.6.71" || web.System.Services[0].Image != "127.0.0.1:5000/kit/redis:0123456789abcdef0123" {
		t.Errorf("web = %+v", web.System)
	}
	if !reflect.DeepEqual(web.Packages, []string{"redis"}) {
		t.Errorf("web uses packages %q", web.Packages)
	}
	if db, _ := f.System("db"); len(db.Packages) != 0 || db.System.Kernel.Cmdline != "" {
		t.Errorf("db = %+v", db)
	}
	// Only the package a system uses is resolved; its dir is relative to
	// the spec file.
	if len(asked) != 1 || asked[0].Name != "redis" || asked[0].Dir != filepath.Join("testdata/hcl/packages/redis") || asked[0].Registry != "127.0.0.1:5000" {
		t.Errorf("resolver asked for %+v", asked)
	}
	if len(f.Packages) != 2 || f.Packages[1].Name != "unused" || f.Packages[0].Pos.Line != 10 || f.Packages[1].Registry != "" {
		t.Errorf("packages = %+v", f.Packages)
	}
	// Outputs and uploads are JSON objects, names kept as written.
	var outs []string
	for _, o := range web.Outputs {
		outs = append(outs, o.Format+"="+string(o.Config))
	}
	wantOuts := []string{`iso-efi={"diskSize":67108864,"images":{"grub":"example.com/grub:2"}}`, `tar={}`}
	if !reflect.DeepEqual(outs, wantOuts) {
		t.Errorf("outputs = %q, want %q", outs, wantOuts)
	}
	var up map[string]any
	if len(web.Uploads) != 1 || web.Uploads[0].Platform != "aws" || json.Unmarshal(web.Uploads[0].Config, &up) != nil || up["region"] != "eu-west-1" {
		t.Errorf("uploads = %+v", web.Uploads)
	}
	if _, err := f.System("nope"); err == nil || !strings.Contains(err.Error(), `no system "nope" (systems: web, db)`) {
		t.Errorf("System(nope) error = %v", err)
	}

	// Without a resolver, package images are placeholders.
	g, err := LoadHCL(path, HCLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := g.Systems[0].System.Services[0].Image; img != PackagePlaceholder("redis") {
		t.Errorf("image without a resolver = %q", img)
	}
	// A resolver's failure is a diagnostic at the package block.
	_, err = LoadHCL(path, HCLOptions{Packages: func(PackageBlock) (string, error) { return "", errors.New("no pkg.yml") }})
	if err == nil || !strings.Contains(err.Error(), "systems.kit.hcl:10:1: Cannot resolve package; package \"redis\"") {
		t.Errorf("resolver failure = %v", err)
	}
}

// TestLoadHCL: Load takes a single-system HCL file (as kit build does),
// alone or merged with YAML specs, and refuses files with several systems.
func TestLoadHCL(t *testing.T) {
	s, err := Load("../../examples/minimal.kit.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if s.Kernel == nil || s.Sources.Get("kernel").File != "../../examples/minimal.kit.hcl" {
		t.Errorf("kernel at %v", s.Sources.Get("kernel"))
	}
	extra := writeFile(t, t.TempDir(), "extra.yml", "onboot:\n  - name: sysctl\n    image: linuxkit/sysctl:v1.1.0\n")
	m, err := Load("../../examples/minimal.kit.hcl", extra)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Onboot) != 2 || m.Sources.Get("onboot[1]").File != extra {
		t.Errorf("merged onboot = %d, onboot[1] at %v", len(m.Onboot), m.Sources.Get("onboot[1]"))
	}
	_, err = Load("testdata/hcl/multi/systems.kit.hcl")
	if err == nil || !strings.Contains(err.Error(), "holds 2 systems (web, db)") {
		t.Errorf("error = %v", err)
	}
	t.Setenv("KIT_VAR_registry", "env.example")
	SetPackageResolver(func(p PackageBlock) (string, error) { return "kit/" + p.Name + ":1", nil })
	defer SetPackageResolver(nil)
	dir := t.TempDir()
	one := writeFile(t, dir, "one.kit.hcl", "variable \"registry\" {}\npackage \"redis\" {\n  dir = \"p\"\n}\nservice \"r\" {\n  image = package.redis.image\n}\ninit = [\"${var.registry}/init:1\"]\n")
	s, err = Load(one)
	if err != nil {
		t.Fatal(err)
	}
	if s.Init[0] != "env.example/init:1" || s.Services[0].Image != "kit/redis:1" {
		t.Errorf("loaded %q %q", s.Init[0], s.Services[0].Image)
	}
	// Errors of an HCL spec merged with others are positioned *Errors.
	bad := writeFile(t, dir, "bad.kit.hcl", "volume \"Bad\" {}\n")
	_, err = Load(bad, extra)
	var se *Error
	if !errors.As(err, &se) || se.Pos.Line != 1 || se.Pos.Col != 8 {
		t.Errorf("merged error = %v", err)
	}
}
