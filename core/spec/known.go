package spec

import "strings"

// capabilityNames are the Linux capabilities in number order (0 to 40).
var capabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

var knownCapability = func() map[string]bool {
	m := make(map[string]bool, len(capabilityNames))
	for _, c := range capabilityNames {
		m[c] = true
	}
	return m
}()

// KnownCapabilities returns the capability names a spec may use, in number
// order; a lone "all" in a capability list stands for all of them.
func KnownCapabilities() []string {
	return append([]string(nil), capabilityNames...)
}

// IsSpecialCapabilities reports whether caps is a lone "all" or "none"
// (either case), and which.
func IsSpecialCapabilities(caps []string) (special string, ok bool) {
	if len(caps) != 1 {
		return "", false
	}
	switch s := strings.ToLower(caps[0]); s {
	case "all", "none":
		return s, true
	}
	return "", false
}

// rlimitNames are the resource limits an rlimits entry may name.
var rlimitNames = map[string]bool{
	"RLIMIT_CPU": true, "RLIMIT_FSIZE": true, "RLIMIT_DATA": true,
	"RLIMIT_STACK": true, "RLIMIT_CORE": true, "RLIMIT_RSS": true,
	"RLIMIT_NPROC": true, "RLIMIT_NOFILE": true, "RLIMIT_MEMLOCK": true,
	"RLIMIT_AS": true, "RLIMIT_LOCKS": true, "RLIMIT_SIGPENDING": true,
	"RLIMIT_MSGQUEUE": true, "RLIMIT_NICE": true, "RLIMIT_RTPRIO": true,
	"RLIMIT_RTTIME": true,
}
