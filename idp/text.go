package idp

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanText makes upstream text (an error description, a claim) fit to
// show on a page or in a log line: printable characters only (others,
// invalid UTF-8 included, are dropped), at most limit runes (then "…").
// It is the one such rule of every connector.
func CleanText(s string, limit int) string {
	var b strings.Builder
	n := 0
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				continue
			}
		}
		if !unicode.IsPrint(r) {
			continue
		}
		if n == limit {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
