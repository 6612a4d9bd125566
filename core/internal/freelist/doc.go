// Package freelist keeps a bounded number of large buffers for reuse
// across the steps of a build. Unlike a sync.Pool, what it keeps is not
// dropped by the garbage collector and never exceeds its bound, so a
// build's peak memory does not grow with how many buffers were in use at
// once, while a fresh buffer's page faults are paid only up to the bound.
package freelist
