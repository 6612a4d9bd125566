// Package sdk is what third-party plugin authors import to write kit
// plugins: output formats, platform uploaders and run backends served
// out of process. The protocol, the Serve helper and the sdktest kit arrive
// with the plugin system; until then kit's formats are registered in
// process through core/format.
package sdk
