// Package cache is kit's on-disk cache: a content-addressed blob store laid
// out as an OCI image layout, an action cache mapping step keys to their
// outputs, and the file locks that let several kit processes share one cache
// directory safely. It implements solver.Store.
package cache
