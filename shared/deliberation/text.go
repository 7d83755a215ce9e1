package deliberation

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
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

// Shorten cuts s to at most max bytes plus "...", on a rune boundary, so a pasted blob does not
// flood a log line or an answer and what is echoed stays valid UTF-8.
func Shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max] + "..."
}

// Control characters a caller's text may hold: none in names (a model, a metadata key), tab and
// newline in free text (a task, a prompt, a metadata value). What a request holds reaches prompts,
// logs, terminals and the job's environment, where NUL and escapes do harm.
const (
	noControls       = ""
	freeTextControls = "\t\n"
)

// hasControl reports whether s holds a C0 control character or DEL other than those allowed.
func hasControl(s, allowed string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 || c == 0x7f) && strings.IndexByte(allowed, c) < 0 {
			return true
		}
	}
	return false
}

// checkControls adds the problem of a field holding control characters it may not.
func checkControls(p *problems, field, name, value, allowed string) {
	if !hasControl(value, allowed) {
		return
	}
	if allowed == noControls {
		p.add(field, "%s cannot hold control characters", name)
		return
	}
	p.add(field, "%s cannot hold control characters other than tab and newline", name)
}

// MaxCancelReasonBytes bounds the reason a caller gives for a cancel.
const MaxCancelReasonBytes = 1024

// CheckCancelReason validates the free-text reason of a cancel: bounded, valid UTF-8, no control
// characters other than tab and newline.
func CheckCancelReason(reason string) error {
	var p problems
	switch {
	case len(reason) > MaxCancelReasonBytes:
		p.add("reason", "reason cannot be longer than %d bytes", MaxCancelReasonBytes)
	case !utf8.ValidString(reason):
		p.add("reason", "reason must be valid UTF-8")
	default:
		checkControls(&p, "reason", "reason", reason, freeTextControls)
	}
	return p.err("invalid cancel request")
}
