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
# prints the spec and serves the registry until interrupted.
#
# The machine should be otherwise idle: the load average is printed before
# and after, and wall times on a busy machine mean little.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bench=${1:-.}
benchtime=${BENCHTIME:-3x}
out=$root/testing/bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out" "$root/bin"

echo "bench: building kit"
go build -o "$root/bin/kit" ./cmd/kit
{
	echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (dirty)')"
	echo "$(go version); $(nproc) CPUs; $(free -m | awk '/^Mem:/ {print $2 " MB RAM"}')"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/env.txt"

KIT_BENCH_KIT=$root/bin/kit KIT_BENCH_RESULTS=$out \
	go test -run '^$' -bench "$bench" -benchtime "$benchtime" -timeout 60m ./testing/bench | tee "$out/bench.txt"

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/env.txt"
ln -sfn "$(basename "$out")" "$root/testing/bench/results/latest"
echo "bench: results in ${out#"$root"/}"
