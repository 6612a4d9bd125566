#!/usr/bin/env bash
# Regenerates sdk/proto/pluginv1 from sdk/proto/kit/plugin/v1/plugin.proto.
#
#   sdk/proto/generate.sh          regenerate the checked-in Go code
#   sdk/proto/generate.sh --check  regenerate into a temp dir and fail when the
#                                  checked-in code differs (CI)
#
# Needs protoc (Debian: protobuf-compiler). The Go plugins are installed at
# pinned versions into a temporary GOBIN, so the output does not depend on
# what happens to be on PATH.
set -euo pipefail

PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if ! command -v protoc >/dev/null; then
  echo "generate.sh: protoc not found (apt-get install protobuf-compiler)" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/out"
# GOFLAGS/GOWORK off: the generators are tools, not part of any module here.
for tool in "$PROTOC_GEN_GO" "$PROTOC_GEN_GO_GRPC"; do
  (cd "$tmp" && GOWORK=off GOFLAGS= GOBIN="$tmp/bin" go install "$tool")
done

PATH="$tmp/bin:$PATH" protoc \
  --proto_path="$here" \
  --go_out="$tmp/out" --go_opt=paths=source_relative \
  --go-grpc_out="$tmp/out" --go-grpc_opt=paths=source_relative \
  kit/plugin/v1/plugin.proto

# protoc writes next to the .proto's relative path; the Go package lives in
# pluginv1/ (the go_package option), so move the files there.
gen="$tmp/gen"
mkdir -p "$gen"
mv "$tmp/out/kit/plugin/v1/"*.go "$gen/"

if $check; then
  mkdir -p "$tmp/have"
  cp "$here/pluginv1/"*.pb.go "$tmp/have/" 2>/dev/null || true
  if ! diff -r "$gen" "$tmp/have"; then
    echo "generate.sh --check: sdk/proto/pluginv1 is stale; run sdk/proto/generate.sh" >&2
    exit 1
  fi
  echo "sdk/proto/pluginv1 is up to date"
  exit 0
fi

find "$here/pluginv1" -name '*.pb.go' -delete
cp "$gen/"*.go "$here/pluginv1/"
echo "regenerated sdk/proto/pluginv1"
