package qemu

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitbuild/kit/core/run"
)

var kernelArt = run.Artifact{Kind: run.KernelInitrd, Path: "o-kernel", Kernel: "o-kernel", Initrd: "o-initrd.img", Cmdline: "quiet"}

// fakeHost has every program installed, the given files, and KVM failing
// with kvmErr (nil: usable).
func fakeHost(kvmErr error, files ...string) Host {
	have := map[string]bool{}
	for _, f := range files {
		have[f] = true
	}
	return Host{
		LookPath: func(f string) (string, error) { return "/usr/bin/" + f, nil },
		KVM:      func(string) error { return kvmErr },
		Exists:   func(p string) bool { return have[p] },
	}
}

func TestBuild(t *testing.T) {
	ovmf4M := []string{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"}
	ovmf2M := []string{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"}
	aavmf := []string{"/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"}
	noKVM := errors.New("open /dev/kvm: no such file or directory")
	limited := fmt.Errorf("no SSE3: %w", ErrKVMLimited)
	for _, tc := range []struct {
		name   string
		cfg    Config
		host   Host
		exact  string   // the whole command line, if set
		has    []string // substrings of the command line
		hasNot []string
		accel  Accel
		reason string // substring of AccelReason
		err    string // substring of the error
	}{
		{
			name:  "defaults with KVM",
			cfg:   Config{Artifact: kernelArt},
			host:  fakeHost(nil),
			exact: "/usr/bin/qemu-system-x86_64 -machine q35 -accel kvm -cpu host -m 1024M -smp 1 -nographic -serial stdio -monitor none -no-reboot -device virtio-rng-pci -netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile= -kernel o-kernel -initrd o-initrd.img -append 'quiet console=ttyS0'",
			accel: AccelKVM,
		},
		{
			name:   "auto without KVM falls back to TCG",
			cfg:    Config{Artifact: kernelArt, Accel: AccelAuto},
			host:   fakeHost(noKVM),
			has:    []string{"-accel tcg -m"},
			hasNot: []string{"-cpu"},
			accel:  AccelTCG,
			reason: "/dev/kvm",
		},
		{
			name:   "auto with a limited KVM uses TCG",
			cfg:    Config{Artifact: kernelArt},
			host:   fakeHost(limited),
			has:    []string{"-accel tcg"},
			accel:  AccelTCG,
			reason: "SSE3",
		},
		{
			name:  "kvm forced on a limited KVM",
			cfg:   Config{Artifact: kernelArt, Accel: AccelKVM},
			host:  fakeHost(limited),
			has:   []string{"-accel kvm -cpu host"},
			accel: AccelKVM,
		},
		{
			name: "kvm forced without KVM",
			cfg:  Config{Artifact: kernelArt, Accel: AccelKVM},
			host: fakeHost(noKVM),
			err:  "accel kvm: KVM is not usable: open /dev/kvm",
		},
		{
			name:   "tcg forced with KVM present",
			cfg:    Config{Artifact: kernelArt, Accel: AccelTCG},
			host:   fakeHost(nil),
			has:    []string{"-accel tcg"},
			hasNot: []string{"kvm"},
			accel:  AccelTCG,
		},
		{
			name: "bad accel",
			cfg:  Config{Artifact: kernelArt, Accel: "hvf"},
			host: fakeHost(nil),
			err:  `accel "hvf"`,
		},
		{
			name: "memory and cpus",
			cfg:  Config{Artifact: kernelArt, Memory: "2g", CPUs: 4},
			host: fakeHost(nil),
			has:  []string{" -m 2G -smp 4 "},
		},
		{
			name: "bare memory number is MiB",
			cfg:  Config{Artifact: kernelArt, Memory: "512"},
			host: fakeHost(nil),
			has:  []string{" -m 512M "},
		},
		{name: "fractional memory", cfg: Config{Artifact: kernelArt, Memory: "1.5G"}, host: fakeHost(nil), err: `memory "1.5G"`},
		{name: "zero memory", cfg: Config{Artifact: kernelArt, Memory: "0"}, host: fakeHost(nil), err: `memory "0"`},
		{name: "memory with a unit word", cfg: Config{Artifact: kernelArt, Memory: "1GB"}, host: fakeHost(nil), err: `memory "1GB"`},
		{name: "negative cpus", cfg: Config{Artifact: kernelArt, CPUs: -1}, host: fakeHost(nil), err: "cpus -1"},
		{
			name: "published ports on loopback",
			cfg: Config{Artifact: kernelArt, Publish: []Port{
				{Host: 6379, Guest: 6379, Proto: "tcp"}, {Host: 5353, Guest: 53, Proto: "udp"},
			}},
			host: fakeHost(nil),
			has:  []string{"-netdev user,id=n0,hostfwd=tcp:127.0.0.1:6379-:6379,hostfwd=udp:127.0.0.1:5353-:53 -device virtio-net-pci,netdev=n0,romfile="},
		},
		{
			name:   "cmdline console kept, append added",
			cfg:    Config{Artifact: run.Artifact{Kind: run.KernelInitrd, Kernel: "k", Initrd: "i", Cmdline: "console=tty0 console=ttyS0"}, CmdlineAppend: "debug  ip=dhcp"},
			host:   fakeHost(nil),
			has:    []string{"-append 'console=tty0 console=ttyS0 debug  ip=dhcp'"},
			hasNot: []string{"ttyS0 console=ttyS0"},
		},
		{
			name: "empty cmdline gets the serial console",
			cfg:  Config{Artifact: run.Artifact{Kind: run.KernelInitrd, Kernel: "k", Initrd: "i"}},
			host: fakeHost(nil),
			has:  []string{"-append console=ttyS0"},
		},
		{
			name:  "uefi prefers the 4M OVMF",
			cfg:   Config{Artifact: kernelArt, UEFI: true, StateDir: "/run/vm"},
			host:  fakeHost(nil, append(ovmf4M, ovmf2M...)...),
			has:   []string{"-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd -drive if=pflash,format=raw,unit=1,file=/run/vm/OVMF_VARS_4M.fd "},
			accel: AccelKVM,
		},
		{
			name: "uefi falls back to the 2M OVMF",
			cfg:  Config{Artifact: kernelArt, UEFI: true, StateDir: "/run/vm"},
			host: fakeHost(nil, ovmf2M...),
			has:  []string{"file=/usr/share/OVMF/OVMF_CODE.fd ", "file=/run/vm/OVMF_VARS.fd "},
		},
		{
			name: "uefi firmware missing",
			cfg:  Config{Artifact: kernelArt, UEFI: true, StateDir: "/run/vm"},
			host: fakeHost(nil, ovmf4M[0]),
			err:  "apt-get install ovmf",
		},
		{
			name:   "arm64",
			cfg:    Config{Artifact: run.Artifact{Kind: run.KernelInitrd, Kernel: "k", Initrd: "i"}, Arch: "arm64"},
			host:   fakeHost(errors.New("the host is amd64")),
			exact:  "/usr/bin/qemu-system-aarch64 -machine virt,gic-version=max -accel tcg -cpu max -m 1024M -smp 1 -nographic -serial stdio -monitor none -no-reboot -device virtio-rng-pci -netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile= -kernel k -initrd i -append console=ttyAMA0",
			accel:  AccelTCG,
			reason: "host is amd64",
		},
		{
			name:  "aarch64 alias with KVM",
			cfg:   Config{Artifact: kernelArt, Arch: "aarch64"},
			host:  fakeHost(nil),
			has:   []string{"qemu-system-aarch64 -machine virt,gic-version=max -accel kvm -cpu host "},
			accel: AccelKVM,
		},
		{
			name: "arm64 uefi",
			cfg:  Config{Artifact: run.Artifact{Kind: run.ISO, Path: "a,b.iso"}, Arch: "arm64", UEFI: true, StateDir: "/s"},
			host: fakeHost(nil, aavmf...),
			has: []string{
				"file=/usr/share/AAVMF/AAVMF_CODE.fd -drive if=pflash,format=raw,unit=1,file=/s/AAVMF_VARS.fd",
				"-device virtio-scsi-pci,id=scsi0 -drive if=none,id=cd0,media=cdrom,readonly=on,file=a,,b.iso -device scsi-cd,bus=scsi0.0,drive=cd0",
			},
		},
		{
			name: "arm64 iso without uefi",
			cfg:  Config{Artifact: run.Artifact{Kind: run.ISO, Path: "a.iso"}, Arch: "arm64"},
			host: fakeHost(nil),
			err:  "add --uefi",
		},
		{name: "unknown arch", cfg: Config{Artifact: kernelArt, Arch: "riscv64"}, host: fakeHost(nil), err: "want one of amd64, arm64"},
		{
			name:   "amd64 iso",
			cfg:    Config{Artifact: run.Artifact{Kind: run.ISO, Path: "os.iso"}},
			host:   fakeHost(nil),
			has:    []string{" -cdrom os.iso -boot order=d"},
			hasNot: []string{"-kernel", "-append"},
		},
		{
			name: "qcow2 boot disk and extra disks",
			cfg:  Config{Artifact: run.Artifact{Kind: run.QCOW2Disk, Path: "os.qcow2"}, Disks: []string{"data.img", "more.QCOW2"}},
			host: fakeHost(nil),
			has:  []string{" -drive if=virtio,format=qcow2,file=os.qcow2 -drive if=virtio,format=raw,file=data.img -drive if=virtio,format=qcow2,file=more.QCOW2"},
		},
		{
			name: "extra disk with kernel+initrd",
			cfg:  Config{Artifact: kernelArt, Disks: []string{"/tmp/d.raw"}},
			host: fakeHost(nil),
			has:  []string{"-append 'quiet console=ttyS0' -drive if=virtio,format=raw,file=/tmp/d.raw"},
		},
		{name: "iso as extra disk", cfg: Config{Artifact: kernelArt, Disks: []string{"x.iso"}}, host: fakeHost(nil), err: "disk x.iso"},
		{
			name: "cmdline-append on a disk",
			cfg:  Config{Artifact: run.Artifact{Kind: run.RawDisk, Path: "os.raw"}, CmdlineAppend: "debug"},
			host: fakeHost(nil),
			err:  "kernel+initrd artifacts only",
		},
		{name: "unknown kind", cfg: Config{Artifact: run.Artifact{Kind: "vhd", Path: "x.vhd"}}, host: fakeHost(nil), err: `kind "vhd"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Build(tc.cfg, WithHost(tc.host))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Build error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			line := c.String()
			if tc.exact != "" && line != tc.exact {
				t.Errorf("command line\n got %s\nwant %s", line, tc.exact)
			}
			for _, s := range tc.has {
				if !strings.Contains(line, s) {
					t.Errorf("command line lacks %q:\n%s", s, line)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(line, s) {
					t.Errorf("command line has %q:\n%s", s, line)
				}
			}
			if tc.accel != "" && c.Accel != tc.accel {
				t.Errorf("accel = %s, want %s", c.Accel, tc.accel)
			}
			if !strings.Contains(c.AccelReason, tc.reason) || (tc.reason == "" && c.AccelReason != "") {
				t.Errorf("accel reason = %q, want %q", c.AccelReason, tc.reason)
			}
			if c.Missing != nil {
				t.Errorf("Missing = %v", c.Missing)
			}
		})
	}
}

func TestBuildUEFICopiesVars(t *testing.T) {
	h := fakeHost(nil, "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd")
	c, err := Build(Config{Artifact: kernelArt, UEFI: true, StateDir: "/st"}, WithHost(h))
	if err != nil {
		t.Fatal(err)
	}
	want := []Copy{{From: "/usr/share/OVMF/OVMF_VARS_4M.fd", To: "/st/OVMF_VARS_4M.fd"}}
	if fmt.Sprint(c.Copies) != fmt.Sprint(want) {
		t.Errorf("Copies = %v, want %v", c.Copies, want)
	}
	if _, err := Build(Config{Artifact: kernelArt, UEFI: true}, WithHost(h)); err == nil {
		t.Error("UEFI without a state directory accepted")
	}
}

func TestBuildMissingBinary(t *testing.T) {
	for _, tc := range []struct{ arch, bin, pkg string }{
		{"amd64", "qemu-system-x86_64", "apt-get install qemu-system-x86"},
		{"arm64", "qemu-system-aarch64", "apt-get install qemu-system-arm"},
	} {
		h := fakeHost(nil)
		h.LookPath = func(f string) (string, error) { return "", exec.ErrNotFound }
		c, err := Build(Config{Artifact: kernelArt, Arch: tc.arch}, WithHost(h))
		if err != nil {
			t.Fatal(err)
		}
		if c.Missing == nil {
			t.Fatalf("%s: Missing not set", tc.arch)
		}
		msg := c.Missing.Error()
		if !strings.Contains(msg, tc.bin) || !strings.Contains(msg, tc.pkg) {
			t.Errorf("%s: Missing = %q, want it to name %s and %q", tc.arch, msg, tc.bin, tc.pkg)
		}
		if c.Path != tc.bin {
			t.Errorf("%s: Path = %q, want the bare name", tc.arch, c.Path)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"-m":                     "-m",
		"":                       "''",
		"a b":                    "'a b'",
		"it's":                   `'it'\''s'`,
		"file=/a,,b":             "file=/a,,b",
		filepath.Join("x", "$y"): "'x/$y'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
