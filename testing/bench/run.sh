#!/usr/bin/env bash
# Benchmarks of `kit build`, end to end: builds kit, runs the cold, warm and
# physical-limit proxy benchmarks of testing/bench for the small, medium
# (~100 MB of images) and large (~300 MB) systems, and prints the table
# (best run of each; peak RSS is the largest). Results go to
# testing/bench/results/<time>/ (bench.txt, table.txt, results.json).
#
#   testing/bench/run.sh                  # everything, 1+3 runs of each
#   BENCHTIME=1x testing/bench/run.sh     # one run of each (~2 minutes)
#   testing/bench/run.sh 'Cold/large'     # a -bench regexp
#
# To profile kit by hand against the same images:
#   KIT_BENCH_SERVE=large go test -run TestServe -timeout 0 ./testing/bench
#   (with KIT_BENCH_DEBIAN_KERNEL and KIT_BENCH_DEBIAN_BUSYBOX as run.sh sets them)
# prints the spec and serves the registry until interrupted.
#
# The kernel of every system is Debian's current amd64 kernel, its vmlinuz
# and a 47 MiB sample of its modules, and the small system's init is
# Debian's static busybox, as in the targets' small system (a Debian kernel
# with 47 MiB of modules, busybox init); run.sh fetches both packages once
# with apt-get download. KIT_BENCH_DATA=synthetic (and `go test -bench`
# alone) uses generated ones instead, whose modules deflate faster and
# compress less than real ones.
#
# The machine should be otherwise idle: the load average is printed before
# and after, and wall times on a busy machine mean little.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bench=${1:-.}
benchtime=${BENCHTIME:-3x}

# debian_pkg PKG sets pkg_dir to Debian's package PKG, extracted under
# ${XDG_CACHE_HOME:-~/.cache}/kit-bench; the first time, it is fetched with
# apt-get download and extracted into a temporary directory, renamed at the
# end.
debian_pkg() {
	local ver
	ver=$(apt-cache show --no-all-versions "$1" 2>/dev/null | awk '$1 == "Version:" {print $2; exit}')
	if [ -z "$ver" ]; then
		apt-get update -qq
		ver=$(apt-cache show --no-all-versions "$1" | awk '$1 == "Version:" {print $2; exit}')
	fi
	pkg_dir=${XDG_CACHE_HOME:-$HOME/.cache}/kit-bench/${1}_${ver//:/%3a}
	if [ ! -d "$pkg_dir" ]; then
		echo "bench: fetching $1 $ver"
		mkdir -p "$(dirname "$pkg_dir")"
		pkg_tmp=$(mktemp -d "$pkg_dir.tmp.XXXXXX")
		trap 'rm -rf "$pkg_tmp"' EXIT
		(cd "$pkg_tmp" && apt-get download -qq -o APT::Sandbox::User=root "$1=$ver")
		dpkg-deb -x "$pkg_tmp"/*.deb "$pkg_tmp/tree"
		rm -rf "$pkg_tmp/tree/usr/share"
		mv "$pkg_tmp/tree" "$pkg_dir"
		rm -rf "$pkg_tmp"
		trap - EXIT
	fi
}

case ${KIT_BENCH_DATA:-debian} in
debian)
	apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt-get update -qq
	debian_pkg "$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')"
	export KIT_BENCH_DEBIAN_KERNEL=$pkg_dir
	debian_pkg busybox-static
	export KIT_BENCH_DEBIAN_BUSYBOX=$pkg_dir/bin/busybox
	;;
synthetic) unset KIT_BENCH_DEBIAN_KERNEL KIT_BENCH_DEBIAN_BUSYBOX ;;
*)
	echo "bench: KIT_BENCH_DATA=$KIT_BENCH_DATA: want debian or synthetic" >&2
	exit 2
	;;
esac

out=$root/testing/bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out" "$root/bin"

echo "bench: building kit"
go build -o "$root/bin/kit" ./cmd/kit
{
	echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (dirty)')"
	echo "$(go version); $(nproc) CPUs; $(free -m | awk '/^Mem:/ {print $2 " MB RAM"}')"
	echo "kernel: ${KIT_BENCH_DEBIAN_KERNEL:-synthetic}; busybox: ${KIT_BENCH_DEBIAN_BUSYBOX:-synthetic}"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/env.txt"

KIT_BENCH_KIT=$root/bin/kit KIT_BENCH_RESULTS=$out \
	go test -run '^$' -bench "$bench" -benchtime "$benchtime" -timeout 60m ./testing/bench | tee "$out/bench.txt"

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/env.txt"
ln -sfn "$(basename "$out")" "$root/testing/bench/results/latest"
echo "bench: results in ${out#"$root"/}"
