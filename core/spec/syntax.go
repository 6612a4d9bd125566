package spec

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yaml.v3 reports syntax errors as "yaml: line N: message", where N is
// sometimes the line of the enclosing construct (and 0-based for parser
// errors), and sometimes omits the line altogether; it never gives a column.
// syntaxError locates the problem itself: the first prefix of the input that
// fails with the same message ends at the offending character.

var (
	yamlLineRE      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// Bounds on the work spent locating a syntax error.
const (
	maxLocateInput = 256 << 10 // larger inputs keep yaml.v3's line
	maxLocateWork  = 8 << 20   // bytes re-parsed in total
)

func syntaxError(file string, data []byte, err error) *Error {
	msg, line := splitYAMLError(err.Error())
	l, c := locate(data, msg, line)
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil && c > 0 {
		c = aliasColumn(data, l, c, m[1])
	}
	return &Error{Pos: Pos{File: file, Line: l, Col: c}, Msg: "invalid YAML: " + msg}
}

// aliasColumn moves col, which locate puts on the last character of an
// unknown alias, to the alias's "*".
func aliasColumn(data []byte, line, col int, name string) int {
	lines := strings.SplitN(string(data), "\n", line+1)
	if line > len(lines) {
		return col
	}
	text := lines[line-1]
	if i := strings.LastIndex(text[:byteOffset(text, col)], "*"+name); i >= 0 {
		return utf8.RuneCountInString(text[:i]) + 1
	}
	return col
}

// splitYAMLError splits a yaml.v3 error into its message and reported line.
func splitYAMLError(s string) (msg string, line int) {
	if m := yamlLineRE.FindStringSubmatch(s); m != nil {
		line, _ = strconv.Atoi(m[1])
		return m[2], line
	}
	return strings.TrimPrefix(s, "yaml: "), 0
}

// locate finds the line and column where data first fails with msg; it falls
// back to the reported line (column unknown).
func locate(data []byte, msg string, reported int) (line, col int) {
	fallback := max(reported, 1)
	if len(data) > maxLocateInput {
		return fallback, 0
	}
	var starts []int // offset of each line's first byte
	for off := 0; off < len(data); {
		starts = append(starts, off)
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	work := 0
	for k := max(reported, 1); k <= len(starts); k++ {
		end := len(data)
		if k < len(starts) {
			end = starts[k]
		}
		if work += end; work > maxLocateWork {
			break
		}
		if parseMessage(data[:end]) != msg {
			continue
		}
		ls := starts[k-1]
		for c := ls + 1; c <= end; c++ {
			if work += c; work > maxLocateWork {
				break
			}
			if parseMessage(data[:c]) == msg {
				return k, utf8.RuneCount(data[ls:c])
			}
		}
		return k, 0
	}
	return fallback, 0
}

// parseMessage parses every document in data and returns the message of the
// first syntax error, without yaml.v3's line, or "" when data parses.
func parseMessage(data []byte) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = "panic"
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err == io.EOF {
			return ""
		}
		if err != nil {
			m, _ := splitYAMLError(err.Error())
			return m
		}
	}
}

// byteOffset returns the byte offset just past the first col runes of s.
func byteOffset(s string, col int) int {
	for i := range s {
		if col == 0 {
			return i
		}
		col--
	}
	return len(s)
}
