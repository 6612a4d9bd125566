package runtime

import "strings"

// allCapabilities lists every capability the Linux kernel defines
// (include/uapi/linux/capability.h, CAP_CHOWN = 0 … CAP_CHECKPOINT_RESTORE =
// 40), sorted by name. "all" expands to this list. It is fixed here rather
// than read from the build host, so the output does not depend on the
// machine that builds it.
var allCapabilities = []string{
	"CAP_AUDIT_CONTROL",
	"CAP_AUDIT_READ",
	"CAP_AUDIT_WRITE",
	"CAP_BLOCK_SUSPEND",
	"CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
	"CAP_CHOWN",
	"CAP_DAC_OVERRIDE",
	"CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",
	"CAP_FSETID",
	"CAP_IPC_LOCK",
	"CAP_IPC_OWNER",
	"CAP_KILL",
	"CAP_LEASE",
	"CAP_LINUX_IMMUTABLE",
	"CAP_MAC_ADMIN",
	"CAP_MAC_OVERRIDE",
	"CAP_MKNOD",
	"CAP_NET_ADMIN",
	"CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",
	"CAP_NET_RAW",
	"CAP_PERFMON",
	"CAP_SETFCAP",
	"CAP_SETGID",
	"CAP_SETPCAP",
	"CAP_SETUID",
	"CAP_SYSLOG",
	"CAP_SYS_ADMIN",
	"CAP_SYS_BOOT",
	"CAP_SYS_CHROOT",
	"CAP_SYS_MODULE",
	"CAP_SYS_NICE",
	"CAP_SYS_PACCT",
	"CAP_SYS_PTRACE",
	"CAP_SYS_RAWIO",
	"CAP_SYS_RESOURCE",
	"CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG",
	"CAP_WAKE_ALARM",
}

var knownCapabilities = func() map[string]bool {
	m := make(map[string]bool, len(allCapabilities))
	for _, c := range allCapabilities {
		m[c] = true
	}
	return m
}()

// Capabilities returns every capability name that "all" stands for, sorted.
func Capabilities() []string {
	return append([]string(nil), allCapabilities...)
}

// expandCapabilities applies the lone "all" / "none" rule and checks every
// name. Names must be spelled as the kernel headers spell them
// ("CAP_NET_ADMIN"); a near miss gets a suggestion.
func expandCapabilities(list []string) ([]string, error) {
	if len(list) == 1 {
		switch strings.ToLower(list[0]) {
		case "all":
			return Capabilities(), nil
		case "none":
			return nil, nil
		}
	}
	for _, c := range list {
		if knownCapabilities[c] {
			continue
		}
		switch lc := strings.ToLower(c); {
		case lc == "all" || lc == "none":
			return nil, errorf(ErrUnknownCapability, "%q must stand alone in the list", c)
		default:
			guess := strings.ToUpper(c)
			if !strings.HasPrefix(guess, "CAP_") {
				guess = "CAP_" + guess
			}
			if knownCapabilities[guess] {
				return nil, errorf(ErrUnknownCapability, "%q (did you mean %q?)", c, guess)
			}
			return nil, errorf(ErrUnknownCapability, "%q", c)
		}
	}
	return sortedSet(list), nil
}
