package client

// WithProtocolVersions replaces the protocol versions the host offers
// (tests of negotiation only).
func WithProtocolVersions(v ...int) Option {
	return func(c *config) { c.versions = v }
}
