package qemu

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// probeKVM reports why KVM cannot run a goarch guest: another host
// architecture, /dev/kvm missing, not accessible or not answering, or (an
// error wrapping ErrKVMLimited) a KVM that hides basic CPU features.
func probeKVM(goarch string) error {
	if goarch != runtime.GOARCH {
		return fmt.Errorf("the host is %s, the guest %s", runtime.GOARCH, goarch)
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	const kvmGetAPIVersion = 0xAE00 // _IO(KVMIO, 0x00)
	v, err := unix.IoctlRetInt(int(f.Fd()), kvmGetAPIVersion)
	if err != nil {
		return fmt.Errorf("/dev/kvm: KVM_GET_API_VERSION: %w", err)
	}
	if v != 12 {
		return fmt.Errorf("/dev/kvm: KVM API version %d, want 12", v)
	}
	if goarch == "amd64" {
		return checkX86CPUID(f)
	}
	return nil
}

// kvmCPUID2 is struct kvm_cpuid2 with room for 256 entries.
type kvmCPUID2 struct {
	nent, _ uint32
	entries [256]struct {
		function, index, flags, eax, ebx, ecx, edx uint32
		_                                          [3]uint32
	}
}

// checkX86CPUID refuses a KVM whose guests would not see SSE3 although
// every x86-64 CPU of the last twenty years has it: restricted nested
// hypervisors (seen in Firecracker microVMs) report such a CPUID, and a
// stock kernel there hangs or stops with "KVM internal error" instead of
// booting.
func checkX86CPUID(f *os.File) error {
	const kvmGetSupportedCPUID = 0xC008AE05 // _IOWR(KVMIO, 0x05, struct kvm_cpuid2)
	c := &kvmCPUID2{nent: uint32(len(kvmCPUID2{}.entries))}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), kvmGetSupportedCPUID, uintptr(unsafe.Pointer(c))); e != 0 {
		return fmt.Errorf("/dev/kvm: KVM_GET_SUPPORTED_CPUID: %w", e)
	}
	for _, e := range c.entries[:min(int(c.nent), len(c.entries))] {
		if e.function == 1 {
			if e.ecx&1 == 0 {
				return fmt.Errorf("/dev/kvm offers guests no SSE3, a sign of restricted nested virtualization (--accel kvm uses it anyway): %w", ErrKVMLimited)
			}
			return nil
		}
	}
	return fmt.Errorf("/dev/kvm reports no CPUID leaf 1: %w", ErrKVMLimited)
}
