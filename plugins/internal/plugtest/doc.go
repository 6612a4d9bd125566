// Package plugtest is the test kit the format plugins and their internal
// packages share: host tools that skip a test when missing, Debian package
// trees unpacked from apt-get downloads, and synthetic inputs. It imports
// no plugin package, so any of their tests may use it.
package plugtest
