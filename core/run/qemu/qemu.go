package qemu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/kitbuild/kit/core/run"
)

// Accel selects QEMU's accelerator.
type Accel string

// Accelerators. AccelAuto uses KVM when /dev/kvm is usable for the guest
// architecture and TCG (software emulation) otherwise.
const (
	AccelAuto Accel = "auto"
	AccelKVM  Accel = "kvm"
	AccelTCG  Accel = "tcg"
)

// ErrKVMLimited is wrapped by a KVM probe error that only suspects KVM
// will not boot a guest: AccelAuto then picks TCG, AccelKVM uses KVM anyway.
var ErrKVMLimited = errors.New("KVM looks too limited to boot a guest")

// Defaults of Config.
const (
	DefaultArch   = "amd64"
	DefaultMemory = "1024M"
	DefaultCPUs   = 1
)

// Config describes one VM.
type Config struct {
	Artifact run.Artifact // what to boot
	Arch     string       // guest architecture: amd64 (default) or arm64
	Memory   string       // guest RAM, a number with an optional K, M, G or T suffix (default 1024M)
	CPUs     int          // virtual CPUs (default 1)
	Accel    Accel        // default AccelAuto
	Publish  []Port       // guest ports forwarded from 127.0.0.1 on the host
	UEFI     bool         // boot through UEFI firmware instead of QEMU's BIOS
	// CmdlineAppend is added to the kernel command line of a kernel+initrd
	// artifact.
	CmdlineAppend string
	// Disks are extra disk images attached as virtio disks, after the
	// artifact's own disk; the format follows the extension (.qcow2 or raw).
	Disks []string
	// StateDir holds the VM's writable files (the UEFI variable store).
	// It is needed only with UEFI.
	StateDir string
}

// Host is what Build asks of the machine; tests replace it.
type Host struct {
	// LookPath finds a program, as exec.LookPath.
	LookPath func(file string) (string, error)
	// KVM reports why KVM cannot run a guest of goarch, nil if it can.
	KVM func(goarch string) error
	// Exists reports whether a regular file exists.
	Exists func(path string) bool
}

// DefaultHost looks at the real machine: $PATH, /dev/kvm and the file
// system.
func DefaultHost() Host {
	return Host{
		LookPath: exec.LookPath,
		KVM:      probeKVM,
		Exists: func(p string) bool {
			st, err := os.Stat(p)
			return err == nil && st.Mode().IsRegular()
		},
	}
}

// Option changes how Build inspects the host.
type Option func(*Host)

// WithHost replaces the host inspection (for tests); nil fields keep their
// defaults.
func WithHost(h Host) Option {
	return func(d *Host) {
		if h.LookPath != nil {
			d.LookPath = h.LookPath
		}
		if h.KVM != nil {
			d.KVM = h.KVM
		}
		if h.Exists != nil {
			d.Exists = h.Exists
		}
	}
}

// Copy is a file copied before QEMU starts.
type Copy struct {
	From, To string
}

// Command is a QEMU invocation ready to run.
type Command struct {
	// Path is the QEMU binary: its full path when found, else its name.
	Path string
	// Args are QEMU's arguments (without the program name).
	Args []string
	// Accel is the accelerator chosen: AccelKVM or AccelTCG.
	Accel Accel
	// AccelReason says why AccelAuto chose TCG: why KVM is not usable
	// ("" for KVM or an explicit tcg).
	AccelReason string
	// Copies are done by Run before QEMU starts (the UEFI variable store).
	Copies []Copy
	// Missing is set when the QEMU binary is not installed; Run returns it.
	Missing *MissingError
}

// MissingError reports a program or file kit needs that is not installed,
// with the Debian package that provides it.
type MissingError struct {
	What    string // binary name or file description
	Package string // Debian package to install
	Detail  string // optional: where kit looked
}

func (e *MissingError) Error() string {
	s := fmt.Sprintf("%s is not installed; install it with: apt-get install %s", e.What, e.Package)
	if e.Detail != "" {
		s = fmt.Sprintf("%s is not installed (%s); install it with: apt-get install %s", e.What, e.Detail, e.Package)
	}
	return s
}

var memRe = regexp.MustCompile(`^([1-9][0-9]*)([KMGTkmgt]?)$`)

// Build validates cfg and returns the QEMU command that boots it. Build
// starts nothing and writes nothing; it probes /dev/kvm (for AccelAuto and
// AccelKVM), looks QEMU up in $PATH and checks that firmware files exist.
func Build(cfg Config, opts ...Option) (*Command, error) {
	h := DefaultHost()
	for _, o := range opts {
		o(&h)
	}
	if cfg.Arch == "" {
		cfg.Arch = DefaultArch
	}
	ai, err := lookupArch(cfg.Arch)
	if err != nil {
		return nil, err
	}
	if cfg.Memory == "" {
		cfg.Memory = DefaultMemory
	}
	m := memRe.FindStringSubmatch(cfg.Memory)
	if m == nil {
		return nil, fmt.Errorf("memory %q: want a size such as 512M or 2G", cfg.Memory)
	}
	mem := m[1] + strings.ToUpper(m[2])
	if m[2] == "" {
		mem += "M" // QEMU's unit for a bare number
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = DefaultCPUs
	}
	if cfg.CPUs < 1 || cfg.CPUs > 1024 {
		return nil, fmt.Errorf("cpus %d: want 1 to 1024", cfg.CPUs)
	}

	c := &Command{Path: ai.binary}
	if p, err := h.LookPath(ai.binary); err == nil {
		c.Path = p
	} else {
		c.Missing = &MissingError{What: ai.binary, Package: ai.pkg, Detail: "not found in $PATH"}
	}

	switch cfg.Accel {
	case "", AccelAuto:
		if err := h.KVM(ai.goarch); err != nil {
			c.Accel, c.AccelReason = AccelTCG, err.Error()
		} else {
			c.Accel = AccelKVM
		}
	case AccelKVM:
		if err := h.KVM(ai.goarch); err != nil && !errors.Is(err, ErrKVMLimited) {
			return nil, fmt.Errorf("accel kvm: KVM is not usable: %w", err)
		}
		c.Accel = AccelKVM
	case AccelTCG:
		c.Accel = AccelTCG
	default:
		return nil, fmt.Errorf("accel %q: want auto, kvm or tcg", cfg.Accel)
	}

	a := []string{"-machine", ai.machine, "-accel", string(c.Accel)}
	switch {
	case c.Accel == AccelKVM:
		a = append(a, "-cpu", "host")
	case ai.tcgCPU != "":
		a = append(a, "-cpu", ai.tcgCPU)
	}
	a = append(a,
		"-m", mem,
		"-smp", strconv.Itoa(cfg.CPUs),
		// The serial console on stdio and nothing else: no window, no
		// monitor. Ctrl-C on a terminal stops QEMU (the stdio
		// character device keeps signals on).
		"-nographic", "-serial", "stdio", "-monitor", "none",
		// A guest reboot or panic (with panic=-1) ends QEMU like a power off.
		"-no-reboot",
		"-device", "virtio-rng-pci",
	)

	netdev := "user,id=n0"
	for _, p := range cfg.Publish {
		netdev += "," + p.hostfwd()
	}
	// romfile= leaves out the iPXE boot ROM: kit never boots from the
	// network, and the ROM costs seconds under TCG.
	a = append(a, "-netdev", netdev, "-device", "virtio-net-pci,netdev=n0,romfile=")

	if cfg.UEFI {
		fw, err := findFirmware(ai, h)
		if err != nil {
			return nil, err
		}
		if cfg.StateDir == "" {
			return nil, errors.New("uefi: no state directory for the variable store")
		}
		vars := filepath.Join(cfg.StateDir, filepath.Base(fw.Vars))
		c.Copies = append(c.Copies, Copy{From: fw.Vars, To: vars})
		a = append(a,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+escapeOpt(fw.Code),
			"-drive", "if=pflash,format=raw,unit=1,file="+escapeOpt(vars),
		)
	}

	art := cfg.Artifact
	switch art.Kind {
	case run.KernelInitrd:
		cmdline := art.Cmdline
		if !strings.Contains(" "+cmdline, " console=") {
			cmdline = strings.TrimSpace(cmdline + " console=" + ai.console)
		}
		if cfg.CmdlineAppend != "" {
			cmdline = strings.TrimSpace(cmdline + " " + cfg.CmdlineAppend)
		}
		a = append(a, "-kernel", art.Kernel, "-initrd", art.Initrd, "-append", cmdline)
	case run.ISO, run.RawDisk, run.QCOW2Disk:
		if cfg.CmdlineAppend != "" {
			return nil, fmt.Errorf("cmdline-append: %s is a %s image whose boot loader holds the kernel command line; it applies to kernel+initrd artifacts only", art.Path, art.Kind)
		}
		if ai.needsFirmware && !cfg.UEFI {
			return nil, fmt.Errorf("%s: an %s guest boots a %s image only through UEFI; add --uefi", art.Path, ai.goarch, art.Kind)
		}
		if art.Kind == run.ISO {
			a = append(a, ai.cdrom(art.Path)...)
		} else {
			a = append(a, diskArgs(art.Path, art.Kind)...)
		}
	default:
		return nil, fmt.Errorf("%s: QEMU cannot boot artifacts of kind %q", art.Path, art.Kind)
	}
	for _, d := range cfg.Disks {
		k := run.DiskKind(d)
		if k == run.ISO {
			return nil, fmt.Errorf("disk %s: an ISO image is not a disk", d)
		}
		a = append(a, diskArgs(d, k)...)
	}
	c.Args = a
	return c, nil
}

func diskArgs(path string, k run.Kind) []string {
	format := "raw"
	if k == run.QCOW2Disk {
		format = "qcow2"
	}
	return []string{"-drive", "if=virtio,format=" + format + ",file=" + escapeOpt(path)}
}

func findFirmware(ai *archInfo, h Host) (Firmware, error) {
	for _, fw := range ai.firmware {
		if h.Exists(fw.Code) && h.Exists(fw.Vars) {
			return fw, nil
		}
	}
	return Firmware{}, &MissingError{
		What:    fmt.Sprintf("UEFI firmware for %s (%s)", ai.goarch, ai.firmware[0].Code),
		Package: ai.firmwarePkg,
	}
}

// String returns the command as one shell-quoted line.
func (c *Command) String() string {
	parts := []string{shellQuote(c.Path)}
	for _, a := range c.Args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+,./:@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
