// Package solvertest is a test kit for the build engine: a Store on a
// temporary directory that counts what is asked of it, and a fake step that
// counts its executions, for tests of core/solver and of its users.
package solvertest
