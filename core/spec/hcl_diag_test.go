package spec

import (
	"fmt"
	"strings"
	"testing"
)

// span is a diagnostic's subject: start and end line:column (the end is
// exclusive, as HCL ranges are).
type span struct{ line, col, endLine, endCol int }

func (s span) String() string { return fmt.Sprintf("%d:%d-%d:%d", s.line, s.col, s.endLine, s.endCol) }

// TestHCLDiagnostics: malformed HCL specs give a diagnostic with the right
// summary, detail and source range (the first error diagnostic is
// checked).
func TestHCLDiagnostics(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     string
		summary string
		detail  string // a substring of the detail
		at      span
	}{
		{"syntax error", "kernel {\n  image = \n}\n",
			"Invalid expression", "Expected the start of an expression", span{2, 11, 3, 1}},
		{"unknown block", "kernal {\n  image = \"k\"\n}\n",
			"Unsupported block type", `Did you mean "kernel"?`, span{1, 1, 1, 7}},
		{"unknown attribute", "service \"a\" {\n  image       = \"x\"\n  capabilites = []\n}\n",
			"Unsupported attribute", `Did you mean "capabilities"?`, span{3, 3, 3, 14}},
		{"camelCase attribute", "service \"a\" {\n  image         = \"x\"\n  oomScoreAdj   = 1\n}\n",
			"Unsupported attribute", `Did you mean "oom_score_adj"?`, span{3, 3, 3, 14}},
		{"number for a string", "service \"a\" {\n  image = 5\n}\n",
			"Incorrect value type", "image: want a string, got the number 5", span{2, 11, 2, 12}},
		{"mode as a number", "file \"etc/x\" {\n  contents = \"x\"\n  mode     = 0644\n}\n",
			"Incorrect value type", `quote it: "0644"`, span{3, 14, 3, 18}},
		{"invalid mode", "file \"etc/x\" {\n  contents = \"x\"\n  mode     = \"0999\"\n}\n",
			"Invalid value", `file "etc/x": mode: mode "0999" is not an octal number`, span{3, 14, 3, 20}},
		{"duplicate service", "service \"a\" {\n  image = \"x\"\n}\nservice \"a\" {\n  image = \"y\"\n}\n",
			"Invalid value", `duplicate service name "a" (also services[0] at spec.kit.hcl:1:1)`, span{4, 9, 4, 12}},
		{"bad volume name", "volume \"Data\" {}\n",
			"Invalid value", `volume "Data": name: "Data" may hold only a-z, 0-9, _ and -`, span{1, 8, 1, 14}},
		{"unknown capability", "service \"a\" {\n  image        = \"x\"\n  capabilities = [\"CAP_CHOWN\", \"net_admin\"]\n}\n",
			"Invalid value", `capabilities[1]: unknown capability "net_admin" (did you mean "CAP_NET_ADMIN"?)`, span{3, 32, 3, 43}},
		{"nested unknown key", "service \"a\" {\n  image = \"x\"\n  resources = {\n    memroy = { limit = 1 }\n  }\n}\n",
			"Unsupported attribute", `unknown key "memroy" (did you mean "memory"?)`, span{4, 5, 4, 11}},
		{"nested wrong type", "service \"a\" {\n  image = \"x\"\n  resources = {\n    memory = { limit = \"1G\" }\n  }\n}\n",
			"Incorrect value type", "resources.memory.limit: want an integer", span{4, 24, 4, 28}},
		{"out of range", "service \"a\" {\n  image         = \"x\"\n  oom_score_adj = 5000\n}\n",
			"Invalid value", "oom_score_adj: 5000 is outside -1000..1000", span{3, 19, 3, 23}},
		{"negative uid", "service \"a\" {\n  image = \"x\"\n  uid   = -1\n}\n",
			"Invalid value", "uid: want a number from 0 to 4294967295 or a name, got -1", span{3, 11, 3, 13}},
		{"missing label", "service {\n  image = \"x\"\n}\n",
			"Wrong number of block labels", "A service block takes one label, its name; this one has 0.", span{1, 1, 1, 8}},
		{"extra label", "onboot \"a\" \"b\" {\n  image = \"x\"\n}\n",
			"Wrong number of block labels", "this one has 2", span{1, 12, 1, 15}},
		{"empty label", "volume \"\" {}\n",
			"Empty block label", "must not be empty", span{1, 8, 1, 10}},
		{"name as attribute", "service \"a\" {\n  image = \"x\"\n  name  = \"b\"\n}\n",
			"Unsupported attribute", "The name of a service block is its label", span{3, 3, 3, 7}},
		{"init not a list", "init = \"linuxkit/init:v1.1.0\"\n",
			"Incorrect value type", "init: want a list of strings, got the string", span{1, 8, 1, 30}},
		{"duplicate kernel", "kernel {\n  image = \"k\"\n}\nkernel {\n  image = \"l\"\n}\n",
			"Duplicate kernel block", "the first is at spec.kit.hcl:1:1", span{4, 1, 4, 7}},
		{"kernel without image", "kernel {\n  cmdline = \"console=ttyS0\"\n}\n",
			"Invalid value", "kernel.image: required", span{1, 1, 1, 7}},
		{"file without content", "file \"etc/x\" {\n  mode = \"0644\"\n}\n",
			"Invalid value", `file "etc/x": needs one of directory, symlink, contents, source or metadata`, span{1, 1, 1, 13}},
		{"two file kinds", "file \"etc/x\" {\n  contents = \"x\"\n  symlink  = \"/y\"\n}\n",
			"Invalid value", "symlink and contents are set", span{1, 1, 1, 13}},
		{"bad env", "service \"a\" {\n  image = \"x\"\n  env   = [\"A=1\", \"B\"]\n}\n",
			"Invalid value", `env[1]: want KEY=value, got "B"`, span{3, 19, 3, 22}},
		{"bad image reference", "onboot \"a\" {\n  image = \"Linuxkit/Init:v1\"\n}\n",
			"Invalid value", `image: invalid image reference "Linuxkit/Init:v1"`, span{2, 11, 2, 29}},
		{"bad bind", "service \"a\" {\n  image = \"x\"\n  binds = [\"/a\"]\n}\n",
			"Invalid value", "binds[0]: bind \"/a\": want source:destination[:options]", span{3, 12, 3, 16}},
		{"nested block", "service \"a\" {\n  image = \"x\"\n  resources {\n  }\n}\n",
			"Unsupported block type", "Write it as an attribute: resources = { ... }", span{3, 3, 3, 12}},
		{"undeclared variable", "init = [var.nope]\n",
			"Unsupported attribute", `This object does not have an attribute named "nope".`, span{1, 12, 1, 17}},
		{"unknown function", "init = [nofunc(\"x\")]\n",
			"Call to unknown function", `There is no function named "nofunc".`, span{1, 9, 1, 15}},
		{"undeclared local", "init = [local.x]\n",
			"Unsupported attribute", `named "x"`, span{1, 14, 1, 16}},
		{"content outside systems", "system \"a\" {\n  init = [\"i\"]\n}\nkernel {\n  image = \"k\"\n}\n",
			"System content outside a system block", "belong inside one of them", span{4, 1, 4, 7}},
		{"duplicate system", "system \"a\" {\n  init = [\"i\"]\n}\nsystem \"a\" {\n  init = [\"j\"]\n}\n",
			"Duplicate system", `A system named "a" is already defined at spec.kit.hcl:1:8.`, span{4, 8, 4, 11}},
		{"invalid system name", "system \"a b\" {\n  init = [\"i\"]\n}\n",
			"Invalid system name", `got "a b"`, span{1, 8, 1, 13}},
		{"unknown top-level attribute", "kernel_image = \"x\"\n",
			"Unsupported attribute", `An attribute named "kernel_image" is not expected at the top level.`, span{1, 1, 1, 13}},
		{"unknown attribute in a system", "system \"a\" {\n  services = []\n}\n",
			"Unsupported attribute", `An attribute named "services" is not expected in a system.`, span{2, 3, 2, 11}},
		{"validation fails on the default", "variable \"n\" {\n  type    = number\n  default = 0\n  validation {\n    condition     = var.n > 0\n    error_message = \"n must be positive.\"\n  }\n}\ninit = []\n",
			"Invalid value for variable", "var.n: n must be positive.", span{3, 13, 3, 14}},
		{"required variable", "variable \"image\" {\n  type = string\n}\ninit = [var.image]\n",
			"No value for required variable", `The variable "image" has no default`, span{1, 1, 1, 17}},
		{"default of the wrong type", "variable \"n\" {\n  type    = number\n  default = \"many\"\n}\n",
			"Invalid default value for variable", "var.n: a number is required", span{3, 13, 3, 19}},
		{"bad type expression", "variable \"n\" {\n  type = strin\n}\n",
			"Invalid type specification", `The keyword "strin" is not a valid type specification.`, span{2, 10, 2, 15}},
		{"validation refers elsewhere", "variable \"a\" {\n  default = 1\n  validation {\n    condition     = var.b > 0\n    error_message = \"x\"\n  }\n}\n",
			"Invalid reference in variable validation", "may refer only to var.a", span{4, 21, 4, 26}},
		{"duplicate variable", "variable \"a\" {}\nvariable \"a\" {}\n",
			"Duplicate variable declaration", "already declared at spec.kit.hcl:1:1", span{2, 10, 2, 13}},
		{"locals cycle", "locals {\n  a = local.b\n  b = local.a\n}\ninit = [local.a]\n",
			"Cycle in local values", "local.a refers to itself: local.a → local.b → local.a.", span{2, 3, 2, 4}},
		{"package without dir", "package \"redis\" {}\n",
			"Missing required argument", "A package block needs dir", span{1, 1, 1, 16}},
		{"unknown package", "package \"redis\" {\n  dir = \"p\"\n}\nservice \"r\" {\n  image = package.redis.img\n}\n",
			"Unsupported attribute", `This object does not have an attribute named "img".`, span{5, 24, 5, 28}},
		{"duplicate output", "output \"iso-efi\" {}\noutput \"iso-efi\" {}\n",
			"Duplicate output block", `format "iso-efi" is already given at spec.kit.hcl:1:8`, span{2, 8, 2, 17}},
		{"block in output", "output \"iso-efi\" {\n  images {\n  }\n}\n",
			"Unsupported block type", "images = { ... }", span{2, 3, 2, 9}},
		{"missing file", "file \"etc/motd\" {\n  contents = file(\"no-such-file.txt\")\n}\n",
			"Invalid function argument", "no file no-such-file.txt (relative paths start at the spec's directory, .)", span{2, 20, 2, 36}},
		{"rlimit", "service \"a\" {\n  image   = \"x\"\n  rlimits = [\"nofile,10,1\"]\n}\n",
			"Invalid value", "soft limit exceeds hard limit", span{3, 14, 3, 27}},
		{"null in a list", "service \"a\" {\n  image   = \"x\"\n  command = [\"a\", null]\n}\n",
			"Invalid value", "command[1]: null is not allowed in a list", span{3, 19, 3, 23}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diags := diagsOf(t, tc.src, HCLOptions{})
			if len(diags) == 0 {
				t.Fatalf("no error for:\n%s", tc.src)
			}
			d := diags[0]
			var got span
			if d.Subject != nil {
				got = span{d.Subject.Start.Line, d.Subject.Start.Column, d.Subject.End.Line, d.Subject.End.Column}
			}
			if d.Summary != tc.summary || !strings.Contains(d.Detail, tc.detail) || got != tc.at {
				t.Errorf("got %s %q: %q\nwant %s %q: ...%q...", got, d.Summary, d.Detail, tc.at, tc.summary, tc.detail)
			}
			if d.Subject != nil && d.Subject.Filename != "spec.kit.hcl" {
				t.Errorf("diagnostic in %q", d.Subject.Filename)
			}
		})
	}
}
