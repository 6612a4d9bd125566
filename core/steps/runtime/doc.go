// Package runtime turns an onboot, onshutdown or service entry of a system
// spec into its OCI runtime bundle configuration: the config.json that runc
// runs and the runtime.json that the init acts on at boot, with LinuxKit's
// defaults and rules.
package runtime
