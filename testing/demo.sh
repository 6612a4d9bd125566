#!/usr/bin/env bash
# kit's main job on this machine, end to end: build kit, start a loopback OCI
# registry seeded with synthetic images for every image examples/redis-os.yml
# names, build RedisOS through a registry mirror (cold, then warm from the
# cache), and inspect the artifacts with cpio and tar.
#
# Booting the result in QEMU needs real kernel and package images; those come
# from `kit pkg build` (issue 3). Until then this stops at the artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=${KIT_DEMO_DIR:-$root/out/demo}
port=${KIT_DEMO_PORT:-5000}

if ! command -v cpio >/dev/null 2>&1; then
	echo "demo: installing cpio"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cpio >/dev/null
fi

echo "demo: building kit"
mkdir -p bin "$work"
go build -o bin/kit ./cmd/kit
go build -o bin/kit-testregistry ./cmd/kit-testregistry

echo "demo: starting a loopback registry on 127.0.0.1:$port"
bin/kit-testregistry -addr "127.0.0.1:$port" -seed-spec examples/redis-os.yml >"$work/registry.log" 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	grep -q "listening" "$work/registry.log" 2>/dev/null && break
	sleep 0.1
done
grep -q "listening" "$work/registry.log" || { cat "$work/registry.log"; exit 1; }

cp examples/redis-os.yml "$work/redis-os.yml"
rm -f "$work/redis-os.lock"
export KIT_CACHE="$work/cache"
rm -rf "$KIT_CACHE"
build() {
	bin/kit build --mirror "docker.io=http://127.0.0.1:$port" -f kernel+initrd -f tar \
		-o "$work/out" --progress plain "$work/redis-os.yml"
}

echo; echo "demo: cold build"
start=$(date +%s%N); build; cold=$(( ($(date +%s%N) - start) / 1000000 ))
echo; echo "demo: warm build (unchanged spec: a cache lookup)"
start=$(date +%s%N); build; warm=$(( ($(date +%s%N) - start) / 1000000 ))

echo; echo "demo: lock file $work/redis-os.lock"
sed -n '1,12p' "$work/redis-os.lock"
echo; echo "demo: containers in the initrd (cpio -t)"
gzip -dc "$work/out/redis-os-initrd.img" | cpio -t 2>/dev/null | grep -E '^containers/[a-z]+/[^/]+$' | sort
echo; echo "demo: redis service config (from tar)"
tar -xOf "$work/out/redis-os.tar" containers/services/redis/config.json | grep -A8 '"bounding"'
echo
echo "demo: cold build ${cold} ms, warm build ${warm} ms; artifacts in $work/out"
