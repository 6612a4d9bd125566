package graph

import "time"

// Action is an entry of the action cache: the outputs a node produced under
// a key, with the components the key was computed from (for explain).
type Action struct {
	Key        Key           `json:"key"`
	Name       string        `json:"name"`
	Components KeyComponents `json:"components"`
	Outputs    []Output      `json:"outputs"`
	Created    time.Time     `json:"created"`
}
