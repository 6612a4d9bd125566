// Package sdktest runs kit plugins through the real host client in tests:
// in process (Serve) or as a built binary (Build, then client.Start), with a
// conformance check every format plugin should pass (RunFormat).
package sdktest
