#!/usr/bin/env bash
# Keeps kit's Bazel files generated and lint-clean without Bazel.
#
#   testing/bazel/gazelle.sh          regenerate: gazelle writes every Go
#                                     package's BUILD.bazel and the
#                                     use_repo(go_deps, ...) list of
#                                     MODULE.bazel is rewritten to the
#                                     repositories those files name
#   testing/bazel/gazelle.sh -check   change nothing; fail when gazelle would
#                                     change a BUILD file, when use_repo is
#                                     stale, or when buildifier
#                                     (-mode=check -lint=warn) finds anything
#
# gazelle runs standalone (no `bazel run //:gazelle`): the module list of
# go.work's build list (`go list -m all`) is handed to it as repository
# configuration, so imports resolve to the go_deps repositories offline and
# the same way every time. Needs `gazelle` at the version MODULE.bazel's
# bazel_dep names, and `buildifier`, on PATH or in $(go env GOPATH)/bin
# (.ci/run installs both).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$(go env GOPATH)/bin:$PATH"

check=0
case "${1:-}" in
"") ;;
-check | --check) check=1 ;;
*) echo "usage: $0 [-check]" >&2; exit 2 ;;
esac

want=$(sed -n 's/^bazel_dep(name = "gazelle", version = "\([^"]*\)".*/\1/p' MODULE.bazel)
command -v gazelle >/dev/null || { echo "gazelle not found: go install github.com/bazelbuild/bazel-gazelle/cmd/gazelle@v$want" >&2; exit 1; }
command -v buildifier >/dev/null || { echo "buildifier not found (.ci/run pins and installs it)" >&2; exit 1; }
have=$(go version -m "$(command -v gazelle)" | awk '$1 == "mod" && $2 == "github.com/bazelbuild/bazel-gazelle" {print $3}')
if [ "$have" != "v$want" ]; then
	echo "gazelle is $have, MODULE.bazel pins $want: go install github.com/bazelbuild/bazel-gazelle/cmd/gazelle@v$want" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Repository configuration: one go_repository per module of the build list,
# named as go_deps and gazelle name them (label.ImportPathToBazelRepoName:
# lower case, host labels reversed, every run of non-word characters → _).
go list -m -f '{{if not .Main}}{{.Path}}{{end}}' all | sort -u | while read -r mod; do
	[ -n "$mod" ] || continue
	name=$(printf '%s\n' "$mod" | tr 'A-Z' 'a-z' | awk -F/ '{
		n = split($1, h, "."); s = h[n]; for (i = n - 1; i >= 1; i--) s = s "." h[i]
		for (i = 2; i <= NF; i++) s = s "." $i
		gsub(/[^a-z0-9_]+/, "_", s); print s }')
	printf 'go_repository(name = "%s", importpath = "%s")\n' "$name" "$mod"
done >"$tmp/repos.bzl"

mode=fix
[ "$check" = 1 ] && mode=diff
status=0
# `update`, not `fix`: fix would rewrite rules gazelle did not make.
gazelle update -repo_root="$PWD" -repo_config="$tmp/repos.bzl" -mode="$mode" >"$tmp/gazelle.out" 2>&1 || status=$?
if [ "$check" = 1 ] && [ "$status" != 0 ]; then
	cat "$tmp/gazelle.out"
	echo "gazelle: BUILD files are stale; run testing/bazel/gazelle.sh and commit the result" >&2
	exit 1
elif [ "$status" != 0 ]; then
	cat "$tmp/gazelle.out" >&2
	exit "$status"
fi

# The go_deps repositories the BUILD files name must be listed in
# use_repo(go_deps, ...) (what `bazel mod tidy` would do).
starlark_files() { # every Starlark file kit owns (works in a copy without .git too)
	find . \( -path ./.git -o -path ./bin -o -path ./out -o -path ./examples/plugin-hello \) -prune -o \
		-type f \( -name BUILD.bazel -o -name '*.bzl' -o -name MODULE.bazel \) -print | sed 's|^\./||' | LC_ALL=C sort
}
starlark_files | grep 'BUILD.bazel$' | xargs -r cat |
	grep -o '"@[A-Za-z0-9_.]*//' | sed 's/^"@//; s|//$||' | sort -u |
	grep -Fxf <(awk -F'"' '/^go_repository/ {print $2}' "$tmp/repos.bzl") >"$tmp/used" || true
awk '
	/^use_repo\(go_deps,?$/ || /^use_repo\($/ { maybe = 1; buf = $0; next }
	maybe && /^    go_deps,$/ { skip = 1; maybe = 0; print "use_repo("; print "    go_deps,"
		while ((getline r < USED) > 0) printf "    \"%s\",\n", r
		next }
	maybe { print buf; maybe = 0 }
	skip && /^\)$/ { skip = 0; print; next }
	skip { next }
	{ print }' USED="$tmp/used" MODULE.bazel >"$tmp/MODULE.bazel"
if ! cmp -s MODULE.bazel "$tmp/MODULE.bazel"; then
	if [ "$check" = 1 ]; then
		diff -u MODULE.bazel "$tmp/MODULE.bazel" || true
		echo "MODULE.bazel: use_repo(go_deps, ...) is stale; run testing/bazel/gazelle.sh and commit the result" >&2
		exit 1
	fi
	cp "$tmp/MODULE.bazel" MODULE.bazel
fi

# buildifier over every Starlark file kit owns.
files=$(starlark_files)
if [ "$check" = 1 ]; then
	# shellcheck disable=SC2086
	buildifier -mode=check -lint=warn $files || {
		echo "buildifier: run buildifier -lint=fix on the files above (or testing/bazel/gazelle.sh)" >&2
		exit 1
	}
else
	# shellcheck disable=SC2086
	buildifier -lint=fix $files
	# shellcheck disable=SC2086
	buildifier -mode=check -lint=warn $files
fi
echo "bazel files: in sync ($(echo "$files" | wc -l) files, $(wc -l <"$tmp/used") go_deps repositories)"
