// Package testplugin is the plugin the sdk's own tests run through the real
// client, as a binary (cmd/kit-plugin-testplugin) and in process: formats
// that work, block, hang, crash, log, and a server that lies about digests.
package testplugin
