// Command kit-plugin-format-cloud serves kit's cloud image formats (gcp,
// aws, azure; see package formatcloud) over the plugin protocol. kit starts
// it; run by hand it explains that and exits.
package main
