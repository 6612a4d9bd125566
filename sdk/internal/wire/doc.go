// Package wire holds what both halves of kit's plugin protocol share: the
// go-plugin handshake, the protocol versions and the go-plugin Plugin that
// registers kit's gRPC services on a plugin's server and hands the host
// their clients.
package wire
