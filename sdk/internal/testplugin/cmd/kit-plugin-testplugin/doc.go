// Command kit-plugin-testplugin serves testplugin.Plugin; with
// KIT_TESTPLUGIN_LIAR=1 it reports wrong digests.
package main
