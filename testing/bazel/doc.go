// Package bazel tests kit's Bazel integration without Bazel: the command
// lines the Starlark rules in bazel/ generate are evaluated with
// go.starlark.net, compared with a golden file and run as kit invocations
// against a loopback registry, checking that the declared outputs are
// exactly the files written; the format table is checked against kit's
// plugins. testing/bazel/gazelle.sh keeps the BUILD files in sync.
package bazel
