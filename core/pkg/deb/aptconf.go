package deb

import (
	"fmt"
	"strings"
)

// ParseAptConf parses apt.conf syntax into a flat map of lower-case
// "Scope::Key" names to their (last) value. Both the flat form
// `Acquire::Check-Valid-Until "false";` and the nested form
// `Acquire { Check-Valid-Until "false"; };` are understood; list items
// (`"value";` inside a block) are accepted and dropped, as are #include and
// #clear directives and //, /* */ and # comments.
func ParseAptConf(s string) (map[string]string, error) {
	toks, err := aptTokens(s)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var scope []string
	i := 0
	next := func() aptToken {
		if i < len(toks) {
			t := toks[i]
			i++
			return t
		}
		return aptToken{kind: tokEOF}
	}
	peek := func() aptToken {
		if i < len(toks) {
			return toks[i]
		}
		return aptToken{kind: tokEOF}
	}
	for {
		t := next()
		switch t.kind {
		case tokEOF:
			if len(scope) > 0 {
				return nil, fmt.Errorf("line %d: unclosed block %q", t.line, strings.Join(scope, "::"))
			}
			return out, nil
		case ';':
			continue
		case '}':
			if len(scope) == 0 {
				return nil, fmt.Errorf("line %d: unexpected '}'", t.line)
			}
			scope = scope[:len(scope)-1]
		case '{':
			return nil, fmt.Errorf("line %d: block without a name", t.line)
		case tokString:
			// A list item inside a block.
			if n := next(); n.kind != ';' {
				return nil, fmt.Errorf("line %d: want ';' after list item", n.line)
			}
		case tokWord:
			key := t.text
			switch n := peek(); n.kind {
			case '{':
				next()
				scope = append(scope, key)
			case tokString, tokWord:
				next()
				full := strings.ToLower(strings.Join(append(append([]string(nil), scope...), key), "::"))
				out[full] = n.text
				switch e := next(); e.kind {
				case ';':
				case '{': // `Key "name" { ... }` — a named sub-scope
					scope = append(scope, key+"::"+n.text)
				default:
					return nil, fmt.Errorf("line %d: want ';' after %s", e.line, key)
				}
			case ';':
				next()
			default:
				return nil, fmt.Errorf("line %d: want a value or '{' after %s", n.line, key)
			}
		}
	}
}

const (
	tokEOF    = 0
	tokWord   = 'w'
	tokString = 's'
)

type aptToken struct {
	kind int
	text string
	line int
}

func aptTokens(s string) ([]aptToken, error) {
	var toks []aptToken
	line := 1
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
			continue
		case c == ' ' || c == '\t' || c == '\r':
			i++
			continue
		case c == '#' || strings.HasPrefix(s[i:], "//"):
			// Comments and #include / #clear directives run to the end of
			// the line.
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated comment", line)
			}
			line += strings.Count(s[i:i+2+end], "\n")
			i += end + 4
		case c == '{' || c == '}' || c == ';':
			toks = append(toks, aptToken{kind: int(c), line: line})
			i++
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("line %d: unterminated string", line)
			}
			text := s[i+1 : i+1+end]
			toks = append(toks, aptToken{kind: tokString, text: text, line: line})
			line += strings.Count(text, "\n")
			i += end + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n{};\"", rune(s[j])) && !strings.HasPrefix(s[j:], "//") {
				j++
			}
			toks = append(toks, aptToken{kind: tokWord, text: s[i:j], line: line})
			i = j
		}
	}
	return toks, nil
}
