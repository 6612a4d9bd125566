// Package deb resolves, fetches and unpacks Debian binary packages without
// dpkg or apt: it reads the machine's apt source configuration, verifies
// signed repository indexes, resolves dependencies to a deterministic lock
// and streams each package's data.tar (maintainer scripts are never run).
package deb
