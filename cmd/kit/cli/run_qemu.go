package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitbuild/kit/core/run"
	"github.com/kitbuild/kit/core/run/qemu"
)

// runQEMUOptions are the flags of `kit run qemu`.
type runQEMUOptions struct {
	mem           string
	cpus          int
	arch          string
	publish       []string
	uefi          bool
	accel         string
	cmdlineAppend string
	disks         []string
	timeout       time.Duration
	dryRun        bool
}

// Exit codes of `kit run qemu` besides QEMU's own.
const (
	exitTimeout = 124 // as timeout(1)
	exitMissing = 127 // as a shell's "command not found"
)

func newRunQEMUCmd() *cobra.Command {
	o := &runQEMUOptions{}
	cmd := &cobra.Command{
		Use:   "qemu [flags] PREFIX|ARTIFACT",
		Short: "Boot a kernel+initrd, ISO or disk image in QEMU",
		Long: `Boot an artifact in QEMU with the guest's serial console on stdio.

The argument is a build prefix (out/redis-os for out/redis-os-kernel,
out/redis-os-initrd.img and out/redis-os-cmdline; else out/redis-os.iso,
.raw, .img or .qcow2) or the path of an artifact file.

The guest gets user-mode networking; --publish forwards a port on the
host's 127.0.0.1 to the guest. KVM is used when /dev/kvm is usable for the
guest architecture, TCG software emulation otherwise (--accel chooses).
QEMU stops when the guest powers off, reboots or panics (with panic=-1 on
the kernel command line), and kit exits with QEMU's exit code: 0 after a
clean power off. Ctrl-C stops the VM.

QEMU comes from Debian's qemu-system-x86 (amd64) or qemu-system-arm
(arm64) package; UEFI firmware from ovmf or qemu-efi-aarch64.`,
		Example: `  kit run qemu out/redis-os
  kit run qemu --mem 2G --cpus 2 --publish 6379:6379 out/redis-os
  kit run qemu --accel tcg --timeout 2m --cmdline-append debug out/redis-os
  kit run qemu --uefi out/redis-os.iso
  kit run qemu --dry-run --arch arm64 out/redis-os-arm64`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.mem, "mem", qemu.DefaultMemory, "guest memory, with a K, M, G or T suffix")
	f.IntVar(&o.cpus, "cpus", qemu.DefaultCPUs, "virtual CPUs")
	f.StringVar(&o.arch, "arch", qemu.DefaultArch, "guest architecture: "+strings.Join(qemu.Arches(), " or "))
	f.StringArrayVarP(&o.publish, "publish", "p", nil, "forward 127.0.0.1:HOST on the host to GUEST in the guest, HOST:GUEST[/tcp|udp], repeatable")
	f.BoolVar(&o.uefi, "uefi", false, "boot through UEFI firmware (OVMF/AAVMF)")
	f.StringVar(&o.accel, "accel", string(qemu.AccelAuto), "accelerator: auto (KVM when usable, else TCG), kvm or tcg")
	f.StringVar(&o.cmdlineAppend, "cmdline-append", "", "text added to the kernel command line (kernel+initrd only)")
	f.StringArrayVar(&o.disks, "disk", nil, "extra disk image (.qcow2, else raw) attached as a virtio disk, repeatable")
	f.DurationVar(&o.timeout, "timeout", 0, "stop the VM and exit 124 if it is still running after this long (e.g. 90s; 0: never)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the QEMU command line and boot nothing")
	_ = cmd.RegisterFlagCompletionFunc("arch", cobra.FixedCompletions(qemu.Arches(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("accel", cobra.FixedCompletions([]string{"auto", "kvm", "tcg"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *runQEMUOptions) run(cmd *cobra.Command, arg string) error {
	ports, err := qemu.ParsePublishes(o.publish)
	if err != nil {
		return err
	}
	if o.timeout < 0 {
		return fmt.Errorf("--timeout %v: want a positive duration", o.timeout)
	}
	art, err := run.Resolve(arg)
	if err != nil {
		return err
	}
	cfg := qemu.Config{
		Artifact:      art,
		Arch:          o.arch,
		Memory:        o.mem,
		CPUs:          o.cpus,
		Accel:         qemu.Accel(o.accel),
		Publish:       ports,
		UEFI:          o.uefi,
		CmdlineAppend: o.cmdlineAppend,
		Disks:         o.disks,
	}
	if o.uefi {
		dir, err := os.MkdirTemp("", "kit-qemu-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.StateDir = dir
	}
	qc, err := qemu.Build(cfg)
	if err != nil {
		var me *qemu.MissingError
		if errors.As(err, &me) {
			return &exitError{code: exitMissing, err: err}
		}
		return err
	}
	stderr := cmd.ErrOrStderr()
	if qc.Missing != nil && !o.dryRun {
		return &exitError{code: exitMissing, err: qc.Missing}
	}
	what := fmt.Sprintf("%s (%s)", arg, art.Kind)
	switch {
	case qc.Accel == qemu.AccelKVM:
		fmt.Fprintf(stderr, "kit: booting %s with KVM\n", what)
	case qc.AccelReason != "":
		fmt.Fprintf(stderr, "kit: booting %s with TCG software emulation (slow); KVM is not usable: %s\n", what, qc.AccelReason)
	default:
		fmt.Fprintf(stderr, "kit: booting %s with TCG software emulation (slow)\n", what)
	}
	if o.dryRun {
		if qc.Missing != nil {
			fmt.Fprintf(stderr, "warning: %v\n", qc.Missing)
		}
		for _, c := range qc.Copies {
			fmt.Fprintf(stderr, "note: %s is copied to %s first\n", c.From, c.To)
		}
		fmt.Fprintln(cmd.OutOrStdout(), qc.String())
		return nil
	}
	code, err := qc.Run(cmd.Context(), qemu.RunOptions{
		Stdin:   cmd.InOrStdin(),
		Stdout:  cmd.OutOrStdout(),
		Stderr:  stderr,
		Timeout: o.timeout,
	})
	var te *qemu.TimeoutError
	switch {
	case errors.As(err, &te):
		return &exitError{code: exitTimeout, err: err}
	case err != nil:
		return err
	case code != 0:
		return &exitError{code: code, err: fmt.Errorf("qemu exited with status %d", code)}
	}
	return nil
}
