// Package pkgtest provides test helpers for package builds: a signed apt
// repository of synthetic .debs served on 127.0.0.1, with an apt root whose
// configuration points at it.
package pkgtest
