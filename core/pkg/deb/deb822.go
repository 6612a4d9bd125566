package deb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxLine bounds one line of a deb822 document; Debian's longest fields
// (Description, Conffiles) are far below it.
const maxLine = 1 << 20

// Paragraph is one deb822 stanza: field names (matched case-insensitively)
// to values. Continuation lines of multi-line fields are joined with "\n"
// and keep their leading space removed; a " ." line stands for an empty line.
type Paragraph struct {
	keys   []string          // field names as written, in order
	values map[string]string // lower-case name → value
}

// Get returns the value of the field name (case-insensitive) and whether it
// is present.
func (p Paragraph) Get(name string) (string, bool) {
	v, ok := p.values[strings.ToLower(name)]
	return v, ok
}

// Value returns the value of the field name, or "" when it is absent.
func (p Paragraph) Value(name string) string {
	v, _ := p.Get(name)
	return v
}

// Fields returns the field names in the order they appear.
func (p Paragraph) Fields() []string { return append([]string(nil), p.keys...) }

// Len returns the number of fields.
func (p Paragraph) Len() int { return len(p.keys) }

// set adds or replaces a field.
func (p *Paragraph) set(name, value string) {
	if p.values == nil {
		p.values = map[string]string{}
	}
	k := strings.ToLower(name)
	if _, ok := p.values[k]; !ok {
		p.keys = append(p.keys, name)
	}
	p.values[k] = value
}

// ParseError reports a malformed deb822 document.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ReadParagraphs calls fn for every paragraph of the deb822 document read
// from r, in order, without holding more than one paragraph in memory.
// Lines starting with '#' are comments. fn's error stops the walk and is
// returned as is.
func ReadParagraphs(r io.Reader, fn func(Paragraph) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		cur     Paragraph
		last    string // lower-case name of the field being continued
		lineNo  int
		pending bool
	)
	flush := func() error {
		if !pending {
			return nil
		}
		p := cur
		cur, last, pending = Paragraph{}, "", false
		return fn(p)
	}
	for {
		line, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return &ParseError{Line: lineNo + 1, Msg: err.Error()}
		}
		if errors.Is(err, io.EOF) && line == "" {
			return flush()
		}
		lineNo++
		switch {
		case strings.TrimSpace(line) == "":
			if err := flush(); err != nil {
				return err
			}
		case line[0] == '#':
			// comment
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return &ParseError{Line: lineNo, Msg: "continuation line outside a field"}
			}
			cont := line[1:]
			if strings.TrimSpace(cont) == "." {
				cont = ""
			}
			cur.values[last] += "\n" + cont
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				return &ParseError{Line: lineNo, Msg: fmt.Sprintf("missing ':' in field line %q", clip(line))}
			}
			if name == "" || strings.ContainsAny(name, " \t") {
				return &ParseError{Line: lineNo, Msg: fmt.Sprintf("invalid field name %q", clip(name))}
			}
			if _, dup := cur.Get(name); dup {
				return &ParseError{Line: lineNo, Msg: fmt.Sprintf("duplicate field %q", name)}
			}
			cur.set(name, strings.TrimSpace(value))
			last = strings.ToLower(name)
			pending = true
		}
		if errors.Is(err, io.EOF) {
			return flush()
		}
	}
}

// ParseParagraphs reads a whole (small) deb822 document.
func ParseParagraphs(r io.Reader) ([]Paragraph, error) {
	var ps []Paragraph
	err := ReadParagraphs(r, func(p Paragraph) error {
		ps = append(ps, p)
		return nil
	})
	return ps, err
}

// readLine returns the next line without its line ending; the error is
// io.EOF on the last (possibly empty) line.
func readLine(br *bufio.Reader) (string, error) {
	var sb strings.Builder
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return sb.String(), err
		}
		if sb.Len()+len(chunk) > maxLine {
			return "", fmt.Errorf("line longer than %d bytes", maxLine)
		}
		sb.Write(chunk)
		if !isPrefix {
			return strings.TrimSuffix(sb.String(), "\r"), nil
		}
	}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
