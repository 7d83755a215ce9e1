package natsevents

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

// TruncatedExtension is the CloudEvents extension attribute set (true) on an event whose data was
// shortened to fit the server's max payload; the status API has the whole result.
const TruncatedExtension = "truncated"

// minKept is the shortest a truncated text gets before the result is left out of the event.
const minKept = 64

// encodeEvent renders e as a structured-mode CloudEvent (JSON) of at most limit bytes. When the
// whole event does not fit, the proposals and reasonings of the result are cut, each ending with a
// marker saying how much was kept, to the longest length that fits; failing that, the result is
// left out. Either way the event carries the truncated extension. The trace context, when given,
// is the event's distributed-tracing extension (traceparent, tracestate).
func encodeEvent(e deliberation.LifecycleEvent, source string, limit int, tc map[string]string) ([]byte, error) {
	d := e.Deliberation
	body, err := render(e, source, d, false, tc)
	if err != nil || len(body) <= limit {
		return body, err
	}
	if r := e.Deliberation.Result; r != nil {
		for keep := longestText(*r) / 2; keep >= minKept; keep /= 2 {
			d.Result = truncateResult(*r, keep)
			if body, err = render(e, source, d, true, tc); err != nil || len(body) <= limit {
				return body, err
			}
		}
	}
	d.Result = nil
	if body, err = render(e, source, d, true, tc); err != nil || len(body) <= limit {
		return body, err
	}
	return nil, fmt.Errorf("event %s is %d bytes without its result, over the %d allowed", e.ID(), len(body), limit)
}

func render(e deliberation.LifecycleEvent, source string, d deliberation.Deliberation, truncated bool, tc map[string]string) ([]byte, error) {
	ev := event.New(event.CloudEventsVersionV1)
	ev.SetID(e.ID())
	ev.SetSource(source)
	ev.SetType(e.Type())
	ev.SetSubject(d.ID)
	ev.SetTime(d.UpdatedAt)
	if truncated {
		ev.SetExtension(TruncatedExtension, true)
	}
	for _, name := range []string{"traceparent", "tracestate"} {
		if v := tc[name]; v != "" {
			ev.SetExtension(name, v)
		}
	}
	if err := ev.SetData(event.ApplicationJSON, app.ReportOf(d)); err != nil {
		return nil, fmt.Errorf("event %s data: %w", e.ID(), err)
	}
	if err := ev.Validate(); err != nil {
		return nil, fmt.Errorf("event %s: %w", e.ID(), err)
	}
	return json.Marshal(ev)
}

func longestText(r deliberation.Result) int {
	n := 0
	for _, a := range r.AgentResults {
		n = max(n, len(a.Proposal), len(a.Reasoning))
	}
	return n
}

// truncateResult copies r with every proposal and reasoning cut to at most keep bytes (plus the
// marker); r itself, shared with the stored entry, is left alone.
func truncateResult(r deliberation.Result, keep int) *deliberation.Result {
	cut := func(a deliberation.AgentResult) deliberation.AgentResult {
		a.Proposal, a.Reasoning = truncateText(a.Proposal, keep), truncateText(a.Reasoning, keep)
		return a
	}
	out := r
	out.AgentResults = make([]deliberation.AgentResult, len(r.AgentResults))
	for i, a := range r.AgentResults {
		out.AgentResults[i] = cut(a)
	}
	if r.BestResult != nil {
		best := cut(*r.BestResult)
		out.BestResult = &best
	}
	return &out
}

// truncateText keeps the first keep bytes of s, on a character boundary, and says what was cut.
func truncateText(s string, keep int) string {
	if len(s) <= keep {
		return s
	}
	n := keep
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s… [truncated: %d of %d bytes kept; the status API has the whole text]", s[:n], n, len(s))
}
