// Package cachetest is a conformance suite for implementations of
// solver.Store: every cache backend runs Run from its tests.
package cachetest
