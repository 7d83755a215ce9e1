package knative

import (
	"context"
	"fmt"
	"testing"

	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	"knative.dev/eventing/pkg/apis/feature"
	"knative.dev/pkg/apis"
)

// validationContext is what Knative's admission webhooks hand to Validate for a new object:
// Eventing's feature flags with their defaults (delivery-timeout on, so a Trigger's
// delivery.timeout is accepted; the filters API needs no flag since Eventing 1.14), and Serving's
// default configuration, which FromContextOrDefaults supplies when the context carries none.
func validationContext(t *testing.T) context.Context {
	t.Helper()
	flags, err := feature.NewFlagsConfigFromMap(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	return apis.WithinCreate(feature.ToContext(context.Background(), flags))
}

// object is a Knative resource as the webhooks see it: defaulted, then validated.
type object interface {
	apis.Defaultable
	apis.Validatable
}

// admit defaults o, as the webhook does before validating, then validates it, returning what
// the webhook would refuse (errors) and what it would only warn about. Callers pass a copy:
// defaulting changes the object.
func admit(ctx context.Context, o object) (errs, warnings error) {
	o.SetDefaults(ctx)
	fe := o.Validate(ctx)
	// Filter returns a nil *FieldError when nothing is left; it must not become a non-nil error.
	if e := fe.Filter(apis.ErrorLevel); e != nil {
		errs = e
	}
	if w := fe.Filter(apis.WarningLevel); w != nil {
		warnings = w
	}
	return errs, warnings
}

// knativeErrors runs every Knative object of a deployment through admit. Warnings count: the
// webhook would accept the object, but a warning here is a setting to fix (an insecure default,
// say), not one to ship.
func knativeErrors(ctx context.Context, d deployment) []error {
	var errs []error
	check := func(kind, name string, o object) {
		e, w := admit(ctx, o)
		if e != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", kind, name, e))
		}
		if w != nil {
			errs = append(errs, fmt.Errorf("%s %s: warning: %w", kind, name, w))
		}
	}
	for _, s := range d.services {
		check("Service", s.Name, s.DeepCopy())
	}
	for _, b := range d.brokers {
		check("Broker", b.Name, b.DeepCopy())
	}
	for _, tr := range d.triggers {
		check("Trigger", tr.Name, tr.DeepCopy())
	}
	for _, p := range d.pings {
		check("PingSource", p.Name, p.DeepCopy())
	}
	return errs
}

func TestKnativeAcceptsEveryManifest(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{perFunction, combined} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			d := load(t, dir)
			if len(d.services) == 0 || len(d.brokers) != 1 || len(d.triggers) == 0 || len(d.pings) != 1 {
				t.Fatalf("want Services, one Broker, Triggers and one PingSource; got %d, %d, %d, %d",
					len(d.services), len(d.brokers), len(d.triggers), len(d.pings))
			}
			for _, err := range knativeErrors(validationContext(t), d) {
				t.Error(err)
			}
		})
	}
}

// TestKnativeRejectsMistakes proves the validation above can fail: each case breaks one field of
// a manifest of this folder the way a hand edit could, and Knative's own code must refuse it.
func TestKnativeRejectsMistakes(t *testing.T) {
	t.Parallel()
	d := load(t, perFunction)
	svc := func(mutate func(a map[string]string)) object {
		s := d.service("get-stats").DeepCopy()
		mutate(s.Spec.Template.Annotations)
		return s
	}
	trigger := func(mutate func(tr *eventingv1.Trigger)) object {
		tr := d.triggers[0].DeepCopy()
		mutate(tr)
		return tr
	}
	cases := []struct {
		name string
		obj  object
		ctx  func(*testing.T) context.Context
	}{
		{"negative min-scale", svc(func(a map[string]string) { a["autoscaling.knative.dev/min-scale"] = "-1" }), validationContext},
		{"max-scale below min-scale", svc(func(a map[string]string) {
			a["autoscaling.knative.dev/min-scale"], a["autoscaling.knative.dev/max-scale"] = "5", "2"
		}), validationContext},
		{"max-scale not a number", svc(func(a map[string]string) { a["autoscaling.knative.dev/max-scale"] = "ten" }), validationContext},
		{"zero target", svc(func(a map[string]string) { a["autoscaling.knative.dev/target"] = "0" }), validationContext},
		{"metric the KPA cannot scale on", svc(func(a map[string]string) { a["autoscaling.knative.dev/metric"] = "memory" }), validationContext},
		{"filter with two dialects", trigger(func(tr *eventingv1.Trigger) {
			tr.Spec.Filters[0].Prefix = map[string]string{"type": "dev.rayexecutor."}
		}), validationContext},
		{"filter on an attribute name CloudEvents forbids", trigger(func(tr *eventingv1.Trigger) {
			tr.Spec.Filters[0].Exact = map[string]string{"Type": "x"}
		}), validationContext},
		{"CESQL that does not parse", trigger(func(tr *eventingv1.Trigger) {
			tr.Spec.Filters[0] = eventingv1.SubscriptionsAPIFilter{CESQL: "type = "}
		}), validationContext},
		{"unknown backoff policy", trigger(func(tr *eventingv1.Trigger) {
			p := eventingduckv1.BackoffPolicyType("fibonacci")
			tr.Spec.Delivery.BackoffPolicy = &p
		}), validationContext},
		{"backoff delay not ISO 8601", trigger(func(tr *eventingv1.Trigger) { *tr.Spec.Delivery.BackoffDelay = "1s" }), validationContext},
		{"negative retry", trigger(func(tr *eventingv1.Trigger) { *tr.Spec.Delivery.Retry = -1 }), validationContext},
		// The same Trigger that passes above fails without the feature flags in the context:
		// they are what makes delivery.timeout valid.
		{"timeout without the feature flags", trigger(func(*eventingv1.Trigger) {}), func(*testing.T) context.Context { return context.Background() }},
		{"broker without a class", func() object {
			b := d.brokers[0].DeepCopy()
			delete(b.Annotations, "eventing.knative.dev/broker.class")
			return b
		}(), validationContext},
		{"ping schedule Knative does not take", func() object {
			p := d.pings[0].DeepCopy()
			p.Spec.Schedule = "@every 5m"
			return p
		}(), validationContext},
		{"ping data that is not the JSON it claims", func() object {
			p := d.pings[0].DeepCopy()
			p.Spec.Data = "{"
			return p
		}(), validationContext},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if errs, _ := admit(tc.ctx(t), tc.obj); errs == nil {
				t.Error("Knative accepted it")
			}
		})
	}
}
