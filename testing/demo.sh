#!/usr/bin/env bash
# kit's main job on this machine, end to end: install what is missing (QEMU),
# build kit, build the repository's packages (examples/packages: a Debian
# kernel, kit-init + busybox, runc, dhcpcd, getty, redis) from the machine's
# apt sources with `kit pkg build`, push them to a loopback registry, build
# RedisOS (examples/redis-os.yml) with `kit build`, boot it with
# `kit run qemu --publish`, ask Redis PING from the host until it answers
# PONG, power the VM off from its console, and print the timings.
#
# Environment: KIT_DEMO_DIR (work directory, default out/demo),
# KIT_DEMO_PORT (registry port, default 5000), KIT_DEMO_REDIS_PORT (host
# port published to the guest's 6379, default 6379).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=${KIT_DEMO_DIR:-$root/out/demo}
port=${KIT_DEMO_PORT:-5000}
rport=${KIT_DEMO_REDIS_PORT:-6379}
export SOURCE_DATE_EPOCH=0 # the epoch the spec's package tags are computed with

say() { printf '\n\033[1mdemo: %s\033[0m\n' "$*"; }
now() { date +%s%N; }
ms() { echo $(( ($(now) - $1) / 1000000 )); }
secs() { printf '%d.%02ds' $(( $1 / 1000 )) $(( $1 % 1000 / 10 )); }

command -v go >/dev/null 2>&1 || { echo "demo: Go is needed (https://go.dev/dl/)" >&2; exit 1; }
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
if [ ${#need[@]} -gt 0 ]; then
	say "installing ${need[*]} with apt-get"
	sudo=()
	[ "$(id -u)" = 0 ] || sudo=(sudo)
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

say "building kit"
mkdir -p bin "$work"
go build -o bin/kit ./cmd/kit
go build -o bin/kit-testregistry ./cmd/kit-testregistry
kit=$root/bin/kit

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

say "starting a loopback registry on 127.0.0.1:$port"
bin/kit-testregistry -addr "127.0.0.1:$port" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	grep -q "listening" "$work/registry.log" 2>/dev/null && break
	sleep 0.1
done
grep -q "listening" "$work/registry.log" || { cat "$work/registry.log"; exit 1; }

# Packages into one cache, the system into another: the system build then
# pulls everything from the registry, as it would on another machine.
pkgcache=$work/cache-pkg syscache=$work/cache-sys
rm -rf "$pkgcache" "$syscache" "$work/out"
pkgbuild() {
	KIT_CACHE=$pkgcache "$kit" pkg build --locked --progress plain --registry "127.0.0.1:$port" examples/packages/* >"$work/pkg-build.log" 2>&1 ||
		{ tail -40 "$work/pkg-build.log"; exit 1; }
}
say "building the packages (cold: Debian .debs from the apt mirrors, kit-init from Go sources)"
start=$(now); pkgbuild; pkg_cold=$(ms "$start")
grep -E '^kit/' "$work/pkg-build.log"
say "building the packages again (warm: cache lookups)"
start=$(now); pkgbuild; pkg_warm=$(ms "$start")

cp examples/redis-os.yml "$work/redis-os.yml"
# The spec names each package by its content tag; when a package changed
# since, build with the current tag (and say so).
while IFS= read -r ref; do
	name=${ref%%:*} tag=${ref#*:}
	old=$(grep -oE "127\.0\.0\.1:5000/$name:[0-9a-f]+" "$work/redis-os.yml" | head -n1 | sed 's/.*://') || true
	if [ -n "$old" ] && [ "$old" != "$tag" ]; then
		echo "demo: note: examples/redis-os.yml names $name:$old, the package is now $name:$tag (refresh: go test ./testing/e2e-boot -run TestExampleTags -update)"
		sed -i "s#127\.0\.0\.1:5000/$name:$old#127.0.0.1:5000/$name:$tag#" "$work/redis-os.yml"
	fi
done < <(grep -oE '^kit/[a-z0-9._-]+:[0-9a-f]+' "$work/pkg-build.log")
rm -f "$work/redis-os.lock"
sysbuild() {
	KIT_CACHE=$syscache "$kit" build --mirror "127.0.0.1:5000=http://127.0.0.1:$port" \
		-o "$work/out" --progress plain "$work/redis-os.yml" >"$work/build.log" 2>&1 ||
		{ tail -40 "$work/build.log"; exit 1; }
}
say "building RedisOS (cold: images pulled from the registry)"
start=$(now); sysbuild; sys_cold=$(ms "$start")
grep -E '^'"$work"'/out/' "$work/build.log" || true
say "building RedisOS again (warm: a cache lookup)"
start=$(now); sysbuild; sys_warm=$(ms "$start")

# PING in the Redis protocol over bash's /dev/tcp; true on +PONG.
ping_redis() {
	local reply=
	{ exec 3<>"/dev/tcp/127.0.0.1/$rport"; } 2>/dev/null || return 1
	printf 'PING\r\n' >&3
	IFS= read -r -t 3 reply <&3 || true
	exec 3<&- 3>&-
	[ "${reply%$'\r'}" = "+PONG" ]
}
if ping_redis; then
	echo "demo: something already answers PING on 127.0.0.1:$rport; set KIT_DEMO_REDIS_PORT" >&2
	exit 1
fi

say "booting RedisOS: kit run qemu --publish $rport:6379 (console in $work/console.log)"
console=$work/console.fifo
rm -f "$console"; mkfifo "$console"
start=$(now)
"$kit" run qemu --mem 1G --publish "$rport:6379" --timeout 10m "$work/out/redis-os" <"$console" >"$work/console.log" 2>&1 &
qemu=$!
pids+=($qemu)
exec 4>"$console" # the console's input: the getty service's shell
pong=
for _ in $(seq 600); do
	if ping_redis; then pong=$(ms "$start"); break; fi
	kill -0 "$qemu" 2>/dev/null || break
	sleep 0.5
done
if [ -z "$pong" ]; then
	tail -40 "$work/console.log"
	echo "demo: Redis did not answer PING on 127.0.0.1:$rport" >&2
	exit 1
fi
grep -m1 '^kit: booting' "$work/console.log" || true
grep -oE 'kit-init: (onboot|service|boot done).*' "$work/console.log"
printf '\n$ printf "PING\\r\\n" >/dev/tcp/127.0.0.1/%s\n+PONG    (%s after QEMU started)\n' "$rport" "$(secs "$pong")"

say "powering off (busybox poweroff on the console shell)"
printf '\nbusybox poweroff\n' >&4
off=0
wait "$qemu" || off=$?
exec 4>&-
grep -oE 'kit-init: (poweroff|onshutdown|service [a-z]+: (stopping|exit)).*' "$work/console.log" || true
[ "$off" = 0 ] || { tail -20 "$work/console.log"; echo "demo: kit run qemu exited $off" >&2; exit 1; }

say "timings"
printf '  package build: cold %s, warm %s\n' "$(secs "$pkg_cold")" "$(secs "$pkg_warm")"
printf '  system build:  cold %s, warm %s\n' "$(secs "$sys_cold")" "$(secs "$sys_warm")"
printf '  boot to PONG:  %s (QEMU start to the first PONG on 127.0.0.1:%s)\n' "$(secs "$pong")" "$rport"
printf '  artifacts in %s/out, logs in %s\n' "$work" "$work"
