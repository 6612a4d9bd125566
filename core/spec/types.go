package spec

// The Go types below are the single source of truth for the system spec:
// the YAML and HCL decoders fill them, and schemas/kit-spec.json is generated
// from them (doc comments become descriptions). Field names and tags follow
// the LinuxKit YAML format (camelCase, as in the OCI runtime spec).
//
// Pointers and nil slices mark "not set", which matters when an image entry
// is merged with its image's org.mobyproject.config label: the spec wins over
// the label only for the fields it sets.

// System is a whole system spec: what `kit build` turns into artifacts.
type System struct {
	// Kernel is the kernel image and command line.
	Kernel *Kernel `yaml:"kernel,omitempty" json:"kernel,omitempty"`
	// Init lists images whose contents are laid straight into the root
	// filesystem, in order (later images overwrite earlier ones).
	Init []string `yaml:"init,omitempty" json:"init,omitempty"`
	// Onboot containers run in order, each to completion, at boot.
	Onboot []*Image `yaml:"onboot,omitempty" json:"onboot,omitempty"`
	// Onshutdown containers run in order at shutdown.
	Onshutdown []*Image `yaml:"onshutdown,omitempty" json:"onshutdown,omitempty"`
	// Services are long-running containers.
	Services []*Image `yaml:"services,omitempty" json:"services,omitempty"`
	// Files are extra files, directories and symlinks.
	Files []*File `yaml:"files,omitempty" json:"files,omitempty"`
	// Volumes are named volumes, optionally filled from an image.
	Volumes []*Volume `yaml:"volumes,omitempty" json:"volumes,omitempty"`
	// Trust is obsolete: accepted and ignored with a warning.
	Trust *Trust `yaml:"trust,omitempty" json:"trust,omitempty"`

	// Sources records where each part of the spec was read from; it is
	// filled by the decoders and never serialised.
	Sources *SourceMap `yaml:"-" json:"-"`
}

// Kernel names the kernel image and how to use it.
type Kernel struct {
	// Image is the kernel image reference.
	Image string `yaml:"image" json:"image"`
	// Cmdline is the kernel command line.
	Cmdline string `yaml:"cmdline,omitempty" json:"cmdline,omitempty"`
	// Binary is the kernel file inside the image (default "kernel").
	Binary *string `yaml:"binary,omitempty" json:"binary,omitempty"`
	// Tar is the modules tarball inside the image (default "kernel.tar";
	// "none" or "" disables it).
	Tar *string `yaml:"tar,omitempty" json:"tar,omitempty"`
	// UCode is a microcode cpio inside the image (e.g. "intel-ucode.cpio"),
	// prepended to initrds. No default.
	UCode *string `yaml:"ucode,omitempty" json:"ucode,omitempty"`
}

// Trust is the obsolete content-trust section, kept so old specs parse.
type Trust struct {
	Org   []string `yaml:"org,omitempty" json:"org,omitempty"`
	Image []string `yaml:"image,omitempty" json:"image,omitempty"`
}

// File is an extra file, directory or symlink in the root filesystem.
// Exactly one of Directory, Symlink, Contents, Source and Metadata is set.
type File struct {
	// Path is where the entry goes, relative to the root.
	Path string `yaml:"path" json:"path" jsonschema:"required"`
	// Directory makes the entry a directory.
	Directory bool `yaml:"directory,omitempty" json:"directory,omitempty"`
	// Symlink makes the entry a symbolic link to this target.
	Symlink *string `yaml:"symlink,omitempty" json:"symlink,omitempty"`
	// Contents are the file's contents.
	Contents *string `yaml:"contents,omitempty" json:"contents,omitempty"`
	// Source is a host path to copy; "~/" expands to the home directory.
	Source *string `yaml:"source,omitempty" json:"source,omitempty"`
	// Optional tolerates a missing Source.
	Optional bool `yaml:"optional,omitempty" json:"optional,omitempty"`
	// Metadata writes the merged, resolved spec itself, as "yaml" or "json".
	Metadata *string `yaml:"metadata,omitempty" json:"metadata,omitempty"`
	// Mode is an octal string such as "0644" (default "0600", "0700" for
	// directories).
	Mode *string `yaml:"mode,omitempty" json:"mode,omitempty" jsonschema:"pattern=^0*[0-7]{1\\,4}$"`
	// UID is the owner, a number or a name.
	UID *IDValue `yaml:"uid,omitempty" json:"uid,omitempty"`
	// GID is the group, a number or a name.
	GID *IDValue `yaml:"gid,omitempty" json:"gid,omitempty"`
}

// Volume is a named volume under containers/volumes/<name>.
type Volume struct {
	// Name is non-empty, matches ^[a-z0-9_-]*$ and is unique.
	Name string `yaml:"name" json:"name" jsonschema:"required,pattern=^[a-z0-9_-]+$"`
	// Image fills the volume; without it the volume is blank.
	Image string `yaml:"image,omitempty" json:"image,omitempty"`
	// ReadOnly makes the volume read-only.
	ReadOnly bool `yaml:"readonly,omitempty" json:"readonly,omitempty"`
	// Format is "filesystem" (default) or "oci".
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
	// Platforms lists the platforms to include for format "oci".
	Platforms []string `yaml:"platforms,omitempty" json:"platforms,omitempty"`
}

// Image is an onboot, onshutdown or service container. Every field but Name
// and Image may also come from the image's org.mobyproject.config label.
type Image struct {
	// Name is the container's name (unique among services).
	Name string `yaml:"name" json:"name" jsonschema:"required"`
	// Image is the image reference.
	Image string `yaml:"image" json:"image" jsonschema:"required"`

	// Capabilities replaces the capability set ("all" or "none" alone are
	// special); default none.
	Capabilities *[]string `yaml:"capabilities,omitempty" json:"capabilities,omitempty"`
	// CapabilitiesAdd adds to the label's capabilities.
	CapabilitiesAdd *[]string `yaml:"capabilities.add,omitempty" json:"capabilities.add,omitempty"`
	// Ambient capabilities; also added to bounding, permitted and
	// inheritable.
	Ambient *[]string `yaml:"ambient,omitempty" json:"ambient,omitempty"`
	// Mounts are full OCI mounts.
	Mounts *[]Mount `yaml:"mounts,omitempty" json:"mounts,omitempty"`
	// Binds are "src:dst[:opts]" bind mounts, replacing the label's.
	Binds *[]string `yaml:"binds,omitempty" json:"binds,omitempty"`
	// BindsAdd are bind mounts merged with the label's.
	BindsAdd *[]string `yaml:"binds.add,omitempty" json:"binds.add,omitempty"`
	// Tmpfs are "dst[:opts]" tmpfs mounts.
	Tmpfs *[]string `yaml:"tmpfs,omitempty" json:"tmpfs,omitempty"`
	// Command replaces the image's Entrypoint+Cmd.
	Command *[]string `yaml:"command,omitempty" json:"command,omitempty"`
	// Env replaces the image's environment ("KEY=value").
	Env *[]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Cwd is the working directory (default the image's, else "/").
	Cwd string `yaml:"cwd,omitempty" json:"cwd,omitempty"`
	// Net is the network namespace: empty/"host" for the host's, "new" or
	// "none" for a new one, or a path to join.
	Net string `yaml:"net,omitempty" json:"net,omitempty"`
	// Pid is the pid namespace: default new, "host" shares the host's.
	Pid string `yaml:"pid,omitempty" json:"pid,omitempty"`
	// Ipc is the IPC namespace (as Net).
	Ipc string `yaml:"ipc,omitempty" json:"ipc,omitempty"`
	// Uts is the UTS namespace (as Net).
	Uts string `yaml:"uts,omitempty" json:"uts,omitempty"`
	// Userns is the user namespace (as Net).
	Userns string `yaml:"userns,omitempty" json:"userns,omitempty"`
	// Hostname sets the container's hostname.
	Hostname string `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	// Readonly makes the root filesystem, /dev and /sys read-only.
	Readonly *bool `yaml:"readonly,omitempty" json:"readonly,omitempty"`
	// MaskedPaths are hidden inside the container.
	MaskedPaths *[]string `yaml:"maskedPaths,omitempty" json:"maskedPaths,omitempty"`
	// ReadonlyPaths are made read-only inside the container.
	ReadonlyPaths *[]string `yaml:"readonlyPaths,omitempty" json:"readonlyPaths,omitempty"`
	// UID is the user, a number or a name.
	UID *IDValue `yaml:"uid,omitempty" json:"uid,omitempty"`
	// GID is the group, a number or a name.
	GID *IDValue `yaml:"gid,omitempty" json:"gid,omitempty"`
	// AdditionalGids are supplementary groups, numbers or names.
	AdditionalGids *[]IDValue `yaml:"additionalGids,omitempty" json:"additionalGids,omitempty"`
	// NoNewPrivileges sets the no_new_privs bit.
	NoNewPrivileges *bool `yaml:"noNewPrivileges,omitempty" json:"noNewPrivileges,omitempty"`
	// OOMScoreAdj adjusts the OOM killer score.
	OOMScoreAdj *int `yaml:"oomScoreAdj,omitempty" json:"oomScoreAdj,omitempty"`
	// RootfsPropagation is the root mount propagation.
	RootfsPropagation *string `yaml:"rootfsPropagation,omitempty" json:"rootfsPropagation,omitempty"`
	// CgroupsPath is the cgroup path.
	CgroupsPath *string `yaml:"cgroupsPath,omitempty" json:"cgroupsPath,omitempty"`
	// Resources are the OCI linux resources.
	Resources *Resources `yaml:"resources,omitempty" json:"resources,omitempty"`
	// Sysctl sets kernel parameters inside the container.
	Sysctl *map[string]string `yaml:"sysctl,omitempty" json:"sysctl,omitempty"`
	// Rlimits are "name,soft,hard" ("unlimited" allowed).
	Rlimits *[]string `yaml:"rlimits,omitempty" json:"rlimits,omitempty"`
	// UIDMappings are user namespace uid mappings.
	UIDMappings *[]IDMapping `yaml:"uidMappings,omitempty" json:"uidMappings,omitempty"`
	// GIDMappings are user namespace gid mappings.
	GIDMappings *[]IDMapping `yaml:"gidMappings,omitempty" json:"gidMappings,omitempty"`
	// Annotations are OCI annotations.
	Annotations *map[string]string `yaml:"annotations,omitempty" json:"annotations,omitempty"`
	// Devices are device nodes and cgroup device rules.
	Devices *[]Device `yaml:"devices,omitempty" json:"devices,omitempty"`
	// Runtime is acted on at boot by the init (written to runtime.json).
	Runtime *Runtime `yaml:"runtime,omitempty" json:"runtime,omitempty"`
}

// IDValue is a uid or gid: a number or a name. Names are allocated ids from
// 100 upward; "root" and "" are 0.
type IDValue struct {
	// Number is set when the value is numeric.
	Number *uint32 `yaml:"-" json:"-"`
	// Name is set when the value is a name.
	Name string `yaml:"-" json:"-"`
}

// Mount is an OCI mount.
type Mount struct {
	Destination string   `yaml:"destination" json:"destination"`
	Type        string   `yaml:"type,omitempty" json:"type,omitempty"`
	Source      string   `yaml:"source,omitempty" json:"source,omitempty"`
	Options     []string `yaml:"options,omitempty" json:"options,omitempty"`
}

// Device is a device node, or with Path "all" a cgroup allow rule for every
// device of Type.
type Device struct {
	Path  string `yaml:"path" json:"path" jsonschema:"required"`
	Type  string `yaml:"type" json:"type" jsonschema:"required"`
	Major int64  `yaml:"major" json:"major"`
	Minor int64  `yaml:"minor" json:"minor"`
	// Mode is an octal string such as "0666".
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty" jsonschema:"pattern=^0*[0-7]{1\\,4}$"`
}

// IDMapping is a user namespace mapping.
type IDMapping struct {
	ContainerID uint32 `yaml:"containerID" json:"containerID"`
	HostID      uint32 `yaml:"hostID" json:"hostID"`
	Size        uint32 `yaml:"size" json:"size"`
}

// Runtime is what the init does at boot before starting the container.
type Runtime struct {
	// Cgroups to create.
	Cgroups *[]string `yaml:"cgroups,omitempty" json:"cgroups,omitempty"`
	// Mounts to make before the container starts.
	Mounts *[]Mount `yaml:"mounts,omitempty" json:"mounts,omitempty"`
	// Mkdir lists directories to create.
	Mkdir *[]string `yaml:"mkdir,omitempty" json:"mkdir,omitempty"`
	// Interfaces to create or move into the container's network namespace.
	Interfaces *[]Interface `yaml:"interfaces,omitempty" json:"interfaces,omitempty"`
	// BindNS binds the container's namespaces to paths.
	BindNS *Namespaces `yaml:"bindNS,omitempty" json:"bindNS,omitempty"`
	// Namespace is the containerd namespace for services.
	Namespace *string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
}

// Interface is a network interface set up at boot.
type Interface struct {
	Name         string `yaml:"name,omitempty" json:"name,omitempty"`
	Add          string `yaml:"add,omitempty" json:"add,omitempty"`
	Peer         string `yaml:"peer,omitempty" json:"peer,omitempty"`
	CreateInRoot bool   `yaml:"createInRoot" json:"createInRoot"`
}

// Namespaces are paths to bind namespaces to.
type Namespaces struct {
	Cgroup *string `yaml:"cgroup,omitempty" json:"cgroup,omitempty"`
	Ipc    *string `yaml:"ipc,omitempty" json:"ipc,omitempty"`
	Mnt    *string `yaml:"mnt,omitempty" json:"mnt,omitempty"`
	Net    *string `yaml:"net,omitempty" json:"net,omitempty"`
	Pid    *string `yaml:"pid,omitempty" json:"pid,omitempty"`
	User   *string `yaml:"user,omitempty" json:"user,omitempty"`
	Uts    *string `yaml:"uts,omitempty" json:"uts,omitempty"`
}

// Resources are OCI linux resources (github.com/opencontainers/runtime-spec
// LinuxResources), restated here so kit's types do not depend on a
// third-party wire format.
type Resources struct {
	Devices        []DeviceCgroup    `yaml:"devices,omitempty" json:"devices,omitempty"`
	Memory         *Memory           `yaml:"memory,omitempty" json:"memory,omitempty"`
	CPU            *CPU              `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	Pids           *Pids             `yaml:"pids,omitempty" json:"pids,omitempty"`
	BlockIO        *BlockIO          `yaml:"blockIO,omitempty" json:"blockIO,omitempty"`
	HugepageLimits []HugepageLimit   `yaml:"hugepageLimits,omitempty" json:"hugepageLimits,omitempty"`
	Network        *Network          `yaml:"network,omitempty" json:"network,omitempty"`
	Rdma           map[string]Rdma   `yaml:"rdma,omitempty" json:"rdma,omitempty"`
	Unified        map[string]string `yaml:"unified,omitempty" json:"unified,omitempty"`
}

// DeviceCgroup is a device cgroup rule.
type DeviceCgroup struct {
	Allow  bool   `yaml:"allow" json:"allow"`
	Type   string `yaml:"type,omitempty" json:"type,omitempty"`
	Major  *int64 `yaml:"major,omitempty" json:"major,omitempty"`
	Minor  *int64 `yaml:"minor,omitempty" json:"minor,omitempty"`
	Access string `yaml:"access,omitempty" json:"access,omitempty"`
}

// Memory limits.
type Memory struct {
	Limit             *int64  `yaml:"limit,omitempty" json:"limit,omitempty"`
	Reservation       *int64  `yaml:"reservation,omitempty" json:"reservation,omitempty"`
	Swap              *int64  `yaml:"swap,omitempty" json:"swap,omitempty"`
	Kernel            *int64  `yaml:"kernel,omitempty" json:"kernel,omitempty"`
	KernelTCP         *int64  `yaml:"kernelTCP,omitempty" json:"kernelTCP,omitempty"`
	Swappiness        *uint64 `yaml:"swappiness,omitempty" json:"swappiness,omitempty"`
	DisableOOMKiller  *bool   `yaml:"disableOOMKiller,omitempty" json:"disableOOMKiller,omitempty"`
	UseHierarchy      *bool   `yaml:"useHierarchy,omitempty" json:"useHierarchy,omitempty"`
	CheckBeforeUpdate *bool   `yaml:"checkBeforeUpdate,omitempty" json:"checkBeforeUpdate,omitempty"`
}

// CPU limits.
type CPU struct {
	Shares          *uint64 `yaml:"shares,omitempty" json:"shares,omitempty"`
	Quota           *int64  `yaml:"quota,omitempty" json:"quota,omitempty"`
	Burst           *uint64 `yaml:"burst,omitempty" json:"burst,omitempty"`
	Period          *uint64 `yaml:"period,omitempty" json:"period,omitempty"`
	RealtimeRuntime *int64  `yaml:"realtimeRuntime,omitempty" json:"realtimeRuntime,omitempty"`
	RealtimePeriod  *uint64 `yaml:"realtimePeriod,omitempty" json:"realtimePeriod,omitempty"`
	Cpus            string  `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	Mems            string  `yaml:"mems,omitempty" json:"mems,omitempty"`
	Idle            *int64  `yaml:"idle,omitempty" json:"idle,omitempty"`
}

// Pids limits.
type Pids struct {
	Limit int64 `yaml:"limit" json:"limit"`
}

// BlockIO limits.
type BlockIO struct {
	Weight                  *uint16          `yaml:"weight,omitempty" json:"weight,omitempty"`
	LeafWeight              *uint16          `yaml:"leafWeight,omitempty" json:"leafWeight,omitempty"`
	WeightDevice            []WeightDevice   `yaml:"weightDevice,omitempty" json:"weightDevice,omitempty"`
	ThrottleReadBpsDevice   []ThrottleDevice `yaml:"throttleReadBpsDevice,omitempty" json:"throttleReadBpsDevice,omitempty"`
	ThrottleWriteBpsDevice  []ThrottleDevice `yaml:"throttleWriteBpsDevice,omitempty" json:"throttleWriteBpsDevice,omitempty"`
	ThrottleReadIOPSDevice  []ThrottleDevice `yaml:"throttleReadIOPSDevice,omitempty" json:"throttleReadIOPSDevice,omitempty"`
	ThrottleWriteIOPSDevice []ThrottleDevice `yaml:"throttleWriteIOPSDevice,omitempty" json:"throttleWriteIOPSDevice,omitempty"`
}

// WeightDevice is a per-device block IO weight.
type WeightDevice struct {
	Major      int64   `yaml:"major" json:"major"`
	Minor      int64   `yaml:"minor" json:"minor"`
	Weight     *uint16 `yaml:"weight,omitempty" json:"weight,omitempty"`
	LeafWeight *uint16 `yaml:"leafWeight,omitempty" json:"leafWeight,omitempty"`
}

// ThrottleDevice is a per-device block IO rate limit.
type ThrottleDevice struct {
	Major int64  `yaml:"major" json:"major"`
	Minor int64  `yaml:"minor" json:"minor"`
	Rate  uint64 `yaml:"rate" json:"rate"`
}

// HugepageLimit limits huge page usage.
type HugepageLimit struct {
	Pagesize string `yaml:"pageSize" json:"pageSize"`
	Limit    uint64 `yaml:"limit" json:"limit"`
}

// Network sets class id and interface priorities.
type Network struct {
	ClassID    *uint32             `yaml:"classID,omitempty" json:"classID,omitempty"`
	Priorities []InterfacePriority `yaml:"priorities,omitempty" json:"priorities,omitempty"`
}

// InterfacePriority is a network priority for one interface.
type InterfacePriority struct {
	Name     string `yaml:"name" json:"name"`
	Priority uint32 `yaml:"priority" json:"priority"`
}

// Rdma limits.
type Rdma struct {
	HcaHandles *uint32 `yaml:"hcaHandles,omitempty" json:"hcaHandles,omitempty"`
	HcaObjects *uint32 `yaml:"hcaObjects,omitempty" json:"hcaObjects,omitempty"`
}
