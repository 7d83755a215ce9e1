//go:build faults

package faults

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/rayexecutor/functions/shared/deliberation"
)

// idPattern finds deliberation and submission ids, so failure messages group by their kind.
var idPattern = regexp.MustCompile(`delib-[a-z2-7]{26}(-a[0-9]+)?`)

// outcomes tells how each shape of deliberation ended and why the failed ones failed, most
// frequent first: a run where Ray could not keep up shows up here as timeouts.
func outcomes(stored map[string]deliberation.Deliberation, accepted map[string]*entry) string {
	byShape := map[string]map[deliberation.Status]int{}
	reasons := map[string]int{}
	for id, d := range stored {
		name := "unanswered"
		if e, ok := accepted[id]; ok {
			name = e.shape.name
		}
		if byShape[name] == nil {
			byShape[name] = map[deliberation.Status]int{}
		}
		byShape[name][d.Status]++
		if d.Status == deliberation.StatusFailed {
			msg := idPattern.ReplaceAllString(d.ErrorMessage, "<id>")
			if len(msg) > 160 {
				msg = msg[:160] + "..."
			}
			reasons[msg]++
		}
	}
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(byShape)) {
		fmt.Fprintf(&b, "\n  %-10s %v", name, byShape[name])
	}
	top := slices.SortedFunc(maps.Keys(reasons), func(a, b string) int { return cmp.Compare(reasons[b], reasons[a]) })
	for _, msg := range top[:min(len(top), 8)] {
		fmt.Fprintf(&b, "\n  %4d failed: %s", reasons[msg], msg)
	}
	return b.String()
}
