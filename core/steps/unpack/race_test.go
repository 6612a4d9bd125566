//go:build race

package unpack

// raceEnabled is set under the race detector, whose sync.Pool drops a
// share of what is put in it at random.
const raceEnabled = true
