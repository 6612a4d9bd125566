package cache

// DirectAfter and DirectSupported are for the external tests of artifacts
// written past the page cache.
const DirectAfter = directAfter

var DirectSupported = directSupported
