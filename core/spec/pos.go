package spec

import "fmt"

// Pos is a location in a spec file. Line and Col are 1-based.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	switch {
	case p.File == "":
		return ""
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// SourceMap records where the parts of a decoded spec came from, keyed by a
// field path such as "services[2].capabilities" or "kernel.image" (indices
// are those of the merged spec).
type SourceMap struct {
	pos map[string]Pos
}

// Set records p for path.
func (m *SourceMap) Set(path string, p Pos) {
	if m.pos == nil {
		m.pos = map[string]Pos{}
	}
	m.pos[path] = p
}

// Get returns where path was defined, or the zero Pos.
func (m *SourceMap) Get(path string) Pos {
	if m == nil {
		return Pos{}
	}
	return m.pos[path]
}

// Error is a problem in a spec, with its location. It prints as
// "file:line:col: message".
type Error struct {
	Pos Pos
	Msg string
	Err error
}

func (e *Error) Error() string {
	msg := e.Msg
	if e.Err != nil {
		if msg != "" {
			msg += ": "
		}
		msg += e.Err.Error()
	}
	if s := e.Pos.String(); s != "" {
		return s + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }
