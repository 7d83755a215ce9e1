package knative

import (
	"slices"
	"testing"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/rayexecutor/functions/shared/deliberation"
	"github.com/rayexecutor/functions/shared/transport"
)

// inbound are the event types that reach the functions through the Broker (docs/events.md): the four
// requests and the jobs' finished wake-up. The ping comes from the PingSource directly.
var inbound = []string{
	transport.TypeExecuteRequested, transport.TypeStatusRequested, transport.TypeStatsRequested,
	transport.TypeJobsRequested, transport.TypeCancelRequested, deliberation.TypeFinished,
}

// accepts lists the event types each function takes (shared/transport's layout).
var accepts = map[transport.Function][]string{
	transport.FunctionExecute: {transport.TypeExecuteRequested},
	transport.FunctionStatus:  {transport.TypeStatusRequested, transport.TypeCancelRequested, deliberation.TypeFinished, transport.TypePing},
	transport.FunctionStats:   {transport.TypeStatsRequested},
	transport.FunctionJobs:    {transport.TypeJobsRequested},
	transport.FunctionCombined: {
		transport.TypeExecuteRequested, transport.TypeStatusRequested, transport.TypeStatsRequested,
		transport.TypeJobsRequested, transport.TypeCancelRequested, deliberation.TypeFinished, transport.TypePing,
	},
}

// takes reports whether dest is a Knative Service of the deployment running a function that
// accepts eventType.
func (d deployment) takes(dest duckv1.Destination, eventType string) bool {
	ref := dest.Ref
	if ref == nil || ref.APIVersion != "serving.knative.dev/v1" || ref.Kind != "Service" || d.service(ref.Name) == nil {
		return false
	}
	return slices.Contains(accepts[transport.Function(ref.Name)], eventType)
}

// filterType is the one exact type a Trigger takes, or "" when its filters are anything else.
func filterType(tr *eventingv1.Trigger) string {
	if len(tr.Spec.Filters) != 1 {
		return ""
	}
	f := tr.Spec.Filters[0]
	if len(f.Exact) != 1 || f.Prefix != nil || f.Suffix != nil || f.All != nil || f.Any != nil || f.Not != nil || f.CESQL != "" {
		return ""
	}
	return f.Exact["type"]
}

// triggerProblems is the routing and delivery policy of a Trigger: one exact inbound type with
// the new filters API (not the legacy filter), a subscriber that accepts it, and retries with
// exponential backoff that end in a dead-letter sink of the deployment.
func triggerProblems(tr *eventingv1.Trigger, d deployment) []string {
	var p []string
	if len(d.brokers) != 1 || tr.Spec.Broker != d.brokers[0].Name {
		p = append(p, "not on the deployment's Broker")
	}
	if tr.Spec.Filter != nil {
		p = append(p, "uses the legacy filter")
	}
	typ := filterType(tr)
	switch {
	case !slices.Contains(inbound, typ):
		p = append(p, "filters do not take exactly one inbound type")
	case !d.takes(tr.Spec.Subscriber, typ):
		p = append(p, "the subscriber does not accept "+typ)
	}
	del := tr.Spec.Delivery
	if del == nil {
		return append(p, "no delivery policy")
	}
	if del.Retry == nil || *del.Retry < 1 {
		p = append(p, "no retries")
	}
	if del.BackoffPolicy == nil || *del.BackoffPolicy != "exponential" || del.BackoffDelay == nil {
		p = append(p, "no exponential backoff")
	}
	if dls := del.DeadLetterSink; dls == nil || dls.Ref == nil || d.service(dls.Ref.Name) == nil {
		p = append(p, "no dead-letter sink in the deployment")
	}
	return p
}

func pingProblems(ps *sourcesv1.PingSource, d deployment) []string {
	if !d.takes(ps.Spec.Sink, transport.TypePing) {
		return []string{"the sink is not a function that runs the reconcile pass"}
	}
	return nil
}

func TestTriggersAndPingSource(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{perFunction, combined} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			d := load(t, dir)
			var types []string
			for _, tr := range d.triggers {
				for _, msg := range triggerProblems(tr, d) {
					t.Errorf("Trigger %s: %s", tr.Name, msg)
				}
				types = append(types, filterType(tr))
			}
			if !sameSet(types, inbound) {
				t.Errorf("Triggers take %v, want one each of %v", types, inbound)
			}
			for _, ps := range d.pings {
				for _, msg := range pingProblems(ps, d) {
					t.Errorf("PingSource %s: %s", ps.Name, msg)
				}
			}
			if b := d.brokers[0]; b.Spec.Delivery == nil || b.Spec.Delivery.DeadLetterSink == nil {
				t.Errorf("Broker %s has no default delivery with a dead-letter sink", b.Name)
			}
		})
	}
}

// TestEventingChecksCatchMistakes proves the checks above can fail, one broken field at a time.
func TestEventingChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	d := load(t, perFunction)
	trigger := func(mutate func(tr *eventingv1.Trigger)) []string {
		tr := d.triggers[0].DeepCopy()
		mutate(tr)
		return triggerProblems(tr, d)
	}
	cases := map[string][]string{
		"legacy filter": trigger(func(tr *eventingv1.Trigger) {
			tr.Spec.Filter = &eventingv1.TriggerFilter{Attributes: map[string]string{"type": filterType(tr)}}
			tr.Spec.Filters = nil
		}),
		// A reply type would send the functions' own replies back to them.
		"a reply type": trigger(func(tr *eventingv1.Trigger) {
			tr.Spec.Filters[0].Exact["type"] = deliberation.TypeSubmitted
		}),
		"a prefix instead of an exact type": trigger(func(tr *eventingv1.Trigger) {
			tr.Spec.Filters[0] = eventingv1.SubscriptionsAPIFilter{Prefix: map[string]string{"type": "dev.rayexecutor."}}
		}),
		"a subscriber that refuses the type": trigger(func(tr *eventingv1.Trigger) {
			tr.Spec.Subscriber.Ref.Name = string(transport.FunctionStats)
		}),
		"no dead-letter sink": trigger(func(tr *eventingv1.Trigger) { tr.Spec.Delivery.DeadLetterSink = nil }),
		"no retries":          trigger(func(tr *eventingv1.Trigger) { *tr.Spec.Delivery.Retry = 0 }),
		"linear backoff": trigger(func(tr *eventingv1.Trigger) {
			*tr.Spec.Delivery.BackoffPolicy = "linear"
		}),
		"ping to a function without the reconcile pass": func() []string {
			ps := d.pings[0].DeepCopy()
			ps.Spec.Sink.Ref.Name = string(transport.FunctionStats)
			return pingProblems(ps, d)
		}(),
	}
	for name, problems := range cases {
		if len(problems) == 0 {
			t.Errorf("%s: the check found nothing wrong", name)
		}
	}
}
