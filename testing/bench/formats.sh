#!/usr/bin/env bash
# Per-format figures for RedisOS (examples/redis-os.yml): for each format,
# the output size and the wall time of `kit build -f FORMAT` from an empty
# cache (cold: pull from a loopback registry, unpack, assemble, format) and
# again (warm: cache lookups only), plus the cold time of the format step
# alone (from --progress=json events).
#
# It builds kit and the plugins, builds the example packages and the
# bootloader packages with `kit pkg build` (Debian .debs through the apt
# mirrors on the first run, cached after), pushes them to a loopback
# registry, and mirrors ghcr.io (the plugins' default bootloader images) to
# it. Usage: testing/bench/formats.sh [FORMAT...] (default: every format).
#
# Environment: KIT_BENCH_DIR (work directory, default out/bench-formats),
# KIT_BENCH_PORT (registry port, default 5055).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=${KIT_BENCH_DIR:-$root/out/bench-formats}
port=${KIT_BENCH_PORT:-5055}
export SOURCE_DATE_EPOCH=0

formats=("$@")
if [ ${#formats[@]} -eq 0 ]; then
	formats=(kernel+initrd tar tar-kernel-initrd docker iso-bios iso-efi iso-efi-initrd kernel+iso
		kernel+squashfs kernel+erofs raw-bios raw-efi qcow2-bios qcow2-efi vhd dynamic-vhd vmdk gcp aws azure)
fi

mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/kit ./cmd/kit-testregistry ./plugins/...
kit=$work/bin/kit
export KIT_PLUGIN_PATH=$work/bin

"$work/bin/kit-testregistry" -addr "127.0.0.1:$port" >"$work/registry.log" 2>&1 &
regpid=$!
trap 'kill $regpid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$work/registry.log" 2>/dev/null && break; sleep 0.1; done

# Packages: the example system's under their example names, the bootloaders
# under kitbuild/NAME (ghcr.io/kitbuild/NAME through the mirror).
KIT_CACHE=$work/cache-pkg "$kit" pkg build --locked --progress plain --registry "127.0.0.1:$port" \
	examples/packages/* plugins/packages/syslinux plugins/packages/systemd-boot >"$work/pkg.log" 2>&1 ||
	{ tail -30 "$work/pkg.log"; exit 1; }
sed "s|127\.0\.0\.1:5000/|127.0.0.1:$port/|g" examples/redis-os.yml >"$work/redis-os.yml"
rm -f "$work/redis-os.lock"

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
printf '%-18s %14s %10s %10s %12s\n' format "size (bytes)" "cold (s)" "warm (s)" "format step"
for f in "${formats[@]}"; do
	cache=$work/cache-$RANDOM
	out=$work/out-${f//+/-}
	rm -rf "$out"
	args=(build -f "$f" -o "$out" --cache "$cache" --mirror "ghcr.io=http://127.0.0.1:$port" --progress json "$work/redis-os.yml")
	start=$(date +%s%N)
	"$kit" "${args[@]}" >"$work/$f.out" 2>"$work/$f.cold.json" || { echo "$f: failed"; tail -5 "$work/$f.cold.json"; continue; }
	cold=$(ms "$start")
	start=$(date +%s%N)
	"$kit" "${args[@]}" >/dev/null 2>"$work/$f.warm.json"
	warm=$(ms "$start")
	size=$(awk -F'\t' '{s += $3} END {print s}' "$work/$f.out")
	# the format step: the duration of its done event
	step=$(python3 - "$work/$f.cold.json" "$f" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("type") == "done" and e.get("node", "").endswith("format " + sys.argv[2]):
        print("%.2f s" % (e.get("durationMs", 0) / 1000))
        break
else:
    print("-")
EOF
)
	printf '%-18s %14s %10s %10s %12s\n' "$f" "$size" "$(printf '%d.%02d' $((cold/1000)) $((cold%1000/10)))" \
		"$(printf '%d.%02d' $((warm/1000)) $((warm%1000/10)))" "$step"
	rm -rf "$cache"
done
