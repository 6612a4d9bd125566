package sdk

// Serve serves p over kit's plugin protocol and never returns: call it from
// main. It exits when the host closes the plugin and when the parent process
// dies (the plugin watches getppid; kit also sets Pdeathsig). Run by hand
// (without the host's handshake), the binary prints an explanation and exits
// with status 1.
func Serve(p Plugin) {
	serve(p)
}
