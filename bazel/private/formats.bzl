"""The files each kit format writes, and the plugin that serves it.

kit writes a format's outputs as NAME + suffix (docs/formats.md). Bazel has to
know every output before the action runs, so the suffixes of the built-in
formats and of the plugin formats kit ships are listed here;
testing/bazel checks this table against `kit plugin ls --json` of the plugins
in plugins/. A format of another plugin is declared with kit_system's
format_outputs attribute.
"""

# Built-in formats (core/format): no plugin.
BUILTIN_FORMATS = {
    "docker": [".docker"],
    "kernel+initrd": ["-kernel", "-initrd.img", "-cmdline"],
    "tar": [".tar"],
    "tar-kernel-initrd": ["-initrd.tar"],
}

# Formats of the plugins in plugins/: format → (plugin name, suffixes).
# The plugin binary is kit-plugin-NAME, built from
# //plugins/NAME/cmd/kit-plugin-NAME.
PLUGIN_FORMATS = {
    "aws": ("format-cloud", [".raw"]),
    "azure": ("format-cloud", ["-azure.vhd"]),
    "dynamic-vhd": ("format-disk", ["-dynamic.vhd"]),
    "gcp": ("format-cloud", [".img.tar.gz"]),
    "iso-bios": ("format-iso", [".iso"]),
    "iso-efi": ("format-iso", ["-efi.iso"]),
    "iso-efi-initrd": ("format-iso", ["-efi-initrd.iso"]),
    "kernel+erofs": ("format-fs", ["-kernel", "-erofs.img", "-cmdline"]),
    "kernel+iso": ("format-iso", ["-kernel", ".iso", "-cmdline"]),
    "kernel+squashfs": ("format-fs", ["-kernel", "-squashfs.img", "-cmdline"]),
    "qcow2-bios": ("format-disk", [".qcow2"]),
    "qcow2-efi": ("format-disk", ["-efi.qcow2"]),
    "raw-bios": ("format-disk", ["-bios.img"]),
    "raw-efi": ("format-disk", ["-efi.img"]),
    "rpi4": ("format-board", ["-rpi4.img"]),
    "vhd": ("format-disk", [".vhd"]),
    "vmdk": ("format-disk", [".vmdk"]),
}
