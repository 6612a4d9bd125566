// Package runctest helps tests that run real containers with runc: it skips
// a test where runc, root or the go tool is missing, and builds static Go
// probes to run inside the containers.
package runctest
