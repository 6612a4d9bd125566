// Package client is the host half of kit's plugin protocol: it launches a
// plugin binary with hashicorp/go-plugin (AutoMTLS, checksum verified before
// exec, protocol negotiation, no orphans), describes it, runs its format
// builds and verifies what they return. core/plugin builds on it; sdktest
// runs plugins through it.
package client
