package deliberation

import (
	"regexp"
	"strings"
	"unicode"
)

// ansiEscape matches a terminal color or cursor sequence.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// Printable drops terminal escapes and other control characters from text that comes from outside
// (Ray's messages, a caller's event attributes), so it cannot forge log lines or garble an answer.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, ansiEscape.ReplaceAllString(s, ""))
}
