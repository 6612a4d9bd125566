// Package bootimages names the OCI images that kit's format plugins take
// bootloaders and firmware from when a spec names none: NAME is built with
// `kit pkg build` from plugins/packages/NAME and published as
// ghcr.io/kitbuild/NAME:TAG, TAG being the package's content tag (`kit pkg
// show-tag`), kept current in a generated file by TestDefaultTags.
package bootimages
