#!/usr/bin/env bash
# Fetches a Debian kernel for the `kit run qemu` boot test and prints the path
# of its vmlinuz. The package (default linux-image-cloud-amd64, override with
# KIT_E2E_KERNEL_PKG) is resolved to its versioned linux-image-* package,
# downloaded with `apt-get download` from the machine's apt sources and
# unpacked with `dpkg-deb -x` into a cache directory (default
# ${XDG_CACHE_HOME:-~/.cache}/kit/e2e-kernel, override with KIT_E2E_KERNEL_DIR).
# Nothing is installed on the host. A second run reuses the cache.
#
# The boot test (core/run/qemu, TestBootKernelInitrd) finds the kernel through
# KIT_E2E_KERNEL=path/to/vmlinuz:
#   export KIT_E2E_KERNEL="$(testing/e2e-boot/get-kernel.sh)"
set -euo pipefail

pkg=${KIT_E2E_KERNEL_PKG:-linux-image-cloud-amd64}
dir=${KIT_E2E_KERNEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kit/e2e-kernel}

# The metapackage depends on exactly one versioned image package.
resolve() {
	real=$(apt-cache depends "$pkg" 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}' || true)
	if [ -z "$real" ] && apt-cache show "$pkg" >/dev/null 2>&1; then
		real=$pkg
	fi
}
resolve
if [ -z "$real" ] && [ "$(id -u)" = 0 ]; then
	echo "get-kernel: $pkg unknown to apt; running apt-get update" >&2
	apt-get update -qq >&2
	resolve
fi
if [ -z "$real" ]; then
	echo "get-kernel: package $pkg is unknown to apt; run apt-get update" >&2
	exit 1
fi

out="$dir/$real"
vmlinuz=$(ls "$out"/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
if [ -z "$vmlinuz" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	echo "get-kernel: downloading $real" >&2
	sandbox=()
	[ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root) # the temp dir is not _apt's
	(cd "$tmp" && apt-get download -qq "${sandbox[@]}" "$real" >&2)
	rm -rf "$out.tmp"
	mkdir -p "$out.tmp"
	dpkg-deb -x "$tmp"/"$real"_*.deb "$out.tmp"
	rm -rf "$out"
	mv "$out.tmp" "$out"
	vmlinuz=$(ls "$out"/boot/vmlinuz-* | head -n1)
fi
echo "$vmlinuz"
