package solver

import (
	"fmt"
	"time"

	"github.com/kitbuild/kit/core/graph"
)

// EventType says what happened to a node.
type EventType int

// The events of a node. A node the solver looks at emits either EventCached,
// or EventQueued followed by EventStart, any number of EventProgress and
// EventLog, and one of EventDone, EventError or EventCanceled. A queued node
// that never starts (an input failed, or the build was cancelled) ends with
// EventCanceled; a node found in the cache after waiting for its lock (another
// process built it) ends with EventCached.
const (
	// EventQueued: the node missed the action cache; its inputs are being
	// solved. Explain holds the reasons for the miss (WithExplain).
	EventQueued EventType = iota + 1
	// EventStart: the node's op started.
	EventStart
	// EventProgress: Done out of Total units (Total may be zero).
	EventProgress
	// EventLog: Message is a line of the step's log.
	EventLog
	// EventCached: the node's result came from the action cache.
	EventCached
	// EventDone: the op finished and its result was recorded; Duration is
	// how long the op ran.
	EventDone
	// EventError: the node failed; Err says why.
	EventError
	// EventCanceled: the node stopped or never started because the build was
	// cancelled or another node failed; Err says which.
	EventCanceled
)

var eventNames = [...]string{
	EventQueued:   "queued",
	EventStart:    "start",
	EventProgress: "progress",
	EventLog:      "log",
	EventCached:   "cached",
	EventDone:     "done",
	EventError:    "error",
	EventCanceled: "canceled",
}

func (t EventType) String() string {
	if t > 0 && int(t) < len(eventNames) {
		return eventNames[t]
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// MarshalText encodes the type by name ("queued", "start", ...), for JSON
// progress output.
func (t EventType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// Event reports progress of one node of a plan.
type Event struct {
	Time time.Time
	Type EventType
	// Node, Kind and Key identify the node.
	Node string
	Kind string
	Key  graph.Key
	// Done and Total are set on EventProgress.
	Done, Total int64
	// Message is set on EventLog.
	Message string
	// Err is set on EventError and EventCanceled.
	Err error
	// Duration is set on EventDone and EventError: how long the op ran.
	Duration time.Duration
	// Explain holds why the node hit or missed the cache (EventQueued,
	// EventCached), when the solver was made WithExplain.
	Explain []string
}

// nodeEvent returns an event of type t about n.
func nodeEvent(t EventType, n *graph.Node) Event {
	return Event{Type: t, Node: n.Name, Kind: n.Components.Kind, Key: n.Key}
}
