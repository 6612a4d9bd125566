//go:build linux

package initsys

import (
	"strings"
)

// ParseCmdline splits a kernel command line into its parameters: words
// separated by white space, each "key=value" or a bare "key" (value ""),
// double quotes grouping white space as the kernel does ("a=\"b c\""). A
// later key wins.
func ParseCmdline(s string) map[string]string {
	out := map[string]string{}
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	for _, w := range words {
		k, v, _ := strings.Cut(w, "=")
		if k != "" {
			out[k] = v
		}
	}
	return out
}
