// Package sdk is what third-party authors import to write kit plugins:
// output formats (and, described but not yet run, uploaders and run
// backends) served out of process over kit's gRPC protocol. An author
// implements Format (Info and Build) and calls Serve from main; the SDK
// does the protocol, the digests, the logging and the parent watch.
// Package sdk/client is the host half, sdk/sdktest the test kit.
package sdk
