package freelist

// List holds up to a fixed number of values for reuse.
type List[T any] struct {
	c    chan T
	make func() T
}

// New returns a List keeping at most max values; Get makes new ones with
// mk when it has none.
func New[T any](max int, mk func() T) *List[T] {
	return &List[T]{c: make(chan T, max), make: mk}
}

// Get returns a kept value, or a new one.
func (l *List[T]) Get() T {
	select {
	case v := <-l.c:
		return v
	default:
		return l.make()
	}
}

// Put keeps v for a later Get, unless the list is full: v is then left to
// the garbage collector.
func (l *List[T]) Put(v T) {
	select {
	case l.c <- v:
	default:
	}
}
