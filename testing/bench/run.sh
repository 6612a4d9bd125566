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
#   (with KIT_BENCH_DEBIAN_KERNEL=DIR, the kernel run.sh fetched: see below)
# prints the spec and serves the registry until interrupted.
#
# The kernel of every system is Debian's current amd64 kernel, fetched once
# with apt-get download into ${XDG_CACHE_HOME:-~/.cache}/kit-bench: its
# vmlinuz and a 47 MiB sample of its modules (the targets' small system is a
# Debian kernel with 47 MiB of modules). KIT_BENCH_KERNEL=synthetic uses
# generated modules instead, which deflate faster and compress less than
# real ones (as `go test -bench` alone does).
#
# The machine should be otherwise idle: the load average is printed before
# and after, and wall times on a busy machine mean little.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bench=${1:-.}
benchtime=${BENCHTIME:-3x}

# debian_kernel sets KIT_BENCH_DEBIAN_KERNEL to the extracted package,
# fetching it the first time (into a temporary directory, renamed at the end).
debian_kernel() {
	local pkg ver dir
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
	if [ -z "$pkg" ]; then
		apt-get update -qq
		pkg=$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
	fi
	ver=$(apt-cache show --no-all-versions "$pkg" | awk '$1 == "Version:" {print $2; exit}')
	dir=${XDG_CACHE_HOME:-$HOME/.cache}/kit-bench/${pkg}_$ver
	if [ ! -d "$dir" ]; then
		echo "bench: fetching $pkg $ver"
		mkdir -p "$(dirname "$dir")"
		kernel_tmp=$(mktemp -d "$dir.tmp.XXXXXX")
		trap 'rm -rf "$kernel_tmp"' EXIT
		(cd "$kernel_tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$ver")
		dpkg-deb -x "$kernel_tmp"/*.deb "$kernel_tmp/tree"
		rm -rf "$kernel_tmp/tree/usr"
		mv "$kernel_tmp/tree" "$dir"
		rm -rf "$kernel_tmp"
		trap - EXIT
	fi
	export KIT_BENCH_DEBIAN_KERNEL=$dir
}

case ${KIT_BENCH_KERNEL:-debian} in
debian) debian_kernel ;;
synthetic) unset KIT_BENCH_DEBIAN_KERNEL ;;
*)
	echo "bench: KIT_BENCH_KERNEL=$KIT_BENCH_KERNEL: want debian or synthetic" >&2
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
	echo "kernel: ${KIT_BENCH_DEBIAN_KERNEL:-synthetic}"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/env.txt"

KIT_BENCH_KIT=$root/bin/kit KIT_BENCH_RESULTS=$out \
	go test -run '^$' -bench "$bench" -benchtime "$benchtime" -timeout 60m ./testing/bench | tee "$out/bench.txt"

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/env.txt"
ln -sfn "$(basename "$out")" "$root/testing/bench/results/latest"
echo "bench: results in ${out#"$root"/}"
