package knative

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// The labels the NetworkPolicies select by, and the Secret key Ray's token lives in.
var (
	functionPod = map[string]string{"app.kubernetes.io/component": "function"}
	rayPod      = map[string]string{"app.kubernetes.io/component": "ray"}
	redisPod    = map[string]string{"app.kubernetes.io/name": "redis"}
)

const (
	tokenSecret = "ray-executor"
	tokenKey    = "RAY_AUTH_TOKEN"
	namespace   = "ray-executor"
)

// rayAuthProblems: a Ray container runs with token auth, its token from the Secret the functions
// read theirs from.
func rayAuthProblems(c corev1.Container) []string {
	var p []string
	mode := envOf(c, "RAY_AUTH_MODE")
	if mode == nil || mode.ValueFrom != nil || mode.Value != "token" {
		p = append(p, "Ray's token auth is off: want RAY_AUTH_MODE=token")
	}
	if !fromTokenSecret(envOf(c, tokenKey)) {
		p = append(p, fmt.Sprintf("want %s from the Secret %s, key %s (not optional)", tokenKey, tokenSecret, tokenKey))
	}
	return p
}

// rayPodProblems: a Ray pod template carries the label the policies select Ray pods by.
func rayPodProblems(tpl corev1.PodTemplateSpec) []string {
	if !labels.SelectorFromSet(rayPod).Matches(labels.Set(tpl.Labels)) {
		return []string{fmt.Sprintf("pod template without the label %v the NetworkPolicies select Ray pods by", rayPod)}
	}
	return nil
}

func envOf(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func fromTokenSecret(e *corev1.EnvVar) bool {
	if e == nil || e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return false
	}
	ref := e.ValueFrom.SecretKeyRef
	return ref.Name == tokenSecret && ref.Key == tokenKey && (ref.Optional == nil || !*ref.Optional)
}

// functionLockProblems: a function that talks to Ray sends the token, and every function's pods
// carry the label the policies admit.
func functionLockProblems(s *servingv1.Service) []string {
	var p []string
	if !labels.SelectorFromSet(functionPod).Matches(labels.Set(s.Spec.Template.Labels)) {
		p = append(p, fmt.Sprintf("%s: pod template without the label %v", s.Name, functionPod))
	}
	for _, c := range s.Spec.Template.Spec.Containers {
		if envOf(c, "RAY_ADDRESS") != nil && !fromTokenSecret(envOf(c, tokenKey)) {
			p = append(p, fmt.Sprintf("%s: talks to Ray without %s from the Secret %s", s.Name, tokenKey, tokenSecret))
		}
	}
	return p
}

// peer is a pod some NetworkPolicy may admit: its namespace's labels and its own.
type peer struct {
	name      string
	namespace map[string]string
	pod       map[string]string
}

func inNamespace(name string, pod map[string]string) peer {
	return peer{name: name, namespace: map[string]string{"kubernetes.io/metadata.name": namespace}, pod: pod}
}

// admitted reports whether the policies of the namespace let from reach a pod labelled to on
// port, as Kubernetes reads them: a pod no policy selects for ingress takes anything; one that is
// selected takes what one of the selecting policies' rules admits.
func admitted(policies []*networkingv1.NetworkPolicy, to map[string]string, from peer, port int32) bool {
	selected := false
	for _, pol := range policies {
		sel, err := metav1.LabelSelectorAsSelector(&pol.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(to)) || !slices.Contains(pol.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		selected = true
		for _, rule := range pol.Spec.Ingress {
			if portMatches(rule.Ports, port) && peerMatches(rule.From, from) {
				return true
			}
		}
	}
	return !selected
}

func portMatches(ports []networkingv1.NetworkPolicyPort, port int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		if p.Port == nil || (p.Port.Type == intstr.Int && p.Port.IntVal == port) {
			return true
		}
	}
	return false
}

func peerMatches(peers []networkingv1.NetworkPolicyPeer, from peer) bool {
	if len(peers) == 0 {
		return true
	}
	for _, pr := range peers {
		if pr.IPBlock != nil {
			return true // an address range may hold any pod: treated as admitting everyone
		}
		nsOK := from.namespace["kubernetes.io/metadata.name"] == namespace
		if pr.NamespaceSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(pr.NamespaceSelector)
			nsOK = err == nil && sel.Matches(labels.Set(from.namespace))
		}
		podOK := true
		if pr.PodSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(pr.PodSelector)
			podOK = err == nil && sel.Matches(labels.Set(from.pod))
		}
		if nsOK && podOK {
			return true
		}
	}
	return false
}

// networkProblems: the dashboard only from the functions (and the KubeRay operator), Ray's other
// ports only from Ray pods, Redis only from the functions and the Ray pods.
func networkProblems(policies []*networkingv1.NetworkPolicy) []string {
	function := inNamespace("a function pod", functionPod)
	ray := inNamespace("a Ray pod", rayPod)
	strangers := []peer{
		inNamespace("another pod of the namespace", map[string]string{"app": "anything"}),
		inNamespace("the dead-letter display", map[string]string{"serving.knative.dev/service": "ray-executor-dead-letters"}),
		{name: "a pod of another namespace", namespace: map[string]string{"kubernetes.io/metadata.name": "default"}, pod: map[string]string{}},
		{name: "a pod of another namespace labelled as a function", namespace: map[string]string{"kubernetes.io/metadata.name": "default"}, pod: functionPod},
	}
	type want struct {
		to     string
		labels map[string]string
		port   int32
		from   peer
		ok     bool
	}
	wants := []want{
		{"the Ray dashboard", rayPod, 8265, function, true},
		{"Ray's GCS", rayPod, 6379, ray, true},
		{"Redis", redisPod, 6379, function, true},
		{"Redis", redisPod, 6379, ray, true},
		{"the Ray client", rayPod, 10001, function, false},
	}
	for _, s := range strangers {
		wants = append(wants,
			want{"the Ray dashboard", rayPod, 8265, s, false},
			want{"Ray's GCS", rayPod, 6379, s, false},
			want{"the Ray client", rayPod, 10001, s, false},
			want{"Redis", redisPod, 6379, s, false})
	}
	var p []string
	for _, w := range wants {
		if got := admitted(policies, w.labels, w.from, w.port); got != w.ok {
			verb := "admit"
			if !got {
				verb = "refuse"
			}
			p = append(p, fmt.Sprintf("the NetworkPolicies %s %s to %s (port %d)", verb, w.from.name, w.to, w.port))
		}
	}
	return p
}

// TestRayLocked: Ray's token auth on every Ray pod of both samples, the functions sending the same
// token, and NetworkPolicies that keep other pods away from Ray and Redis, in both deployments.
func TestRayLocked(t *testing.T) {
	t.Parallel()
	rc := loadRayCluster(t)
	rs := loadRayService(t)
	for name, spec := range map[string]rayClusterSpec{"raycluster.yaml": rc.Spec, "rayservice.yaml": rs.Spec.RayClusterConfig} {
		for _, msg := range spec.lockProblems() {
			t.Errorf("%s: %s", name, msg)
		}
	}
	for _, dir := range []string{perFunction, combined} {
		d := load(t, dir)
		for _, s := range d.services {
			if s.Name == "ray-executor-dead-letters" { // the event display reaches neither Ray nor Redis
				continue
			}
			for _, msg := range functionLockProblems(s) {
				t.Errorf("%s: %s", dir, msg)
			}
		}
		for _, set := range d.sets {
			if set.Name == "redis" && !labels.SelectorFromSet(redisPod).Matches(labels.Set(set.Spec.Template.Labels)) {
				t.Errorf("%s: Redis's pods lack the label %v its policy selects", dir, redisPod)
			}
		}
		for _, msg := range networkProblems(d.policies) {
			t.Errorf("%s: %s", dir, msg)
		}
	}
}

// lockProblems runs the token and label checks on every pod template of a Ray cluster.
func (s rayClusterSpec) lockProblems() []string {
	templates := []corev1.PodTemplateSpec{s.HeadGroupSpec.Template}
	for _, g := range s.WorkerGroupSpecs {
		templates = append(templates, g.Template)
	}
	var p []string
	for _, tpl := range templates {
		p = append(p, rayPodProblems(tpl)...)
		for _, c := range tpl.Spec.Containers {
			for _, msg := range rayAuthProblems(c) {
				p = append(p, "container "+c.Name+": "+msg)
			}
		}
	}
	return p
}

// TestRayLockChecksCatchMistakes: each way of unlocking Ray or Redis fails a check.
func TestRayLockChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	head := loadRayCluster(t).Spec.HeadGroupSpec.Template
	d := load(t, perFunction)
	var exec *servingv1.Service
	for _, s := range d.services {
		if s.Name == "execute-deliberation" {
			exec = s
		}
	}
	withEnv := func(mutate func(c *corev1.Container)) []string {
		c := *head.Spec.Containers[0].DeepCopy()
		mutate(&c)
		return rayAuthProblems(c)
	}
	setEnv := func(c *corev1.Container, name string, e corev1.EnvVar) {
		if v := envOf(*c, name); v != nil {
			*v = e
		}
	}
	withPolicies := func(mutate func(pols []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy) []string {
		pols := make([]*networkingv1.NetworkPolicy, len(d.policies))
		for i, p := range d.policies {
			pols[i] = p.DeepCopy()
		}
		return networkProblems(mutate(pols))
	}
	named := func(pols []*networkingv1.NetworkPolicy, name string) *networkingv1.NetworkPolicy {
		for _, p := range pols {
			if p.Name == name {
				return p
			}
		}
		t.Fatalf("no NetworkPolicy %s", name)
		return nil
	}
	optional := true
	cases := map[string]func() []string{
		"no RAY_AUTH_MODE": func() []string {
			return withEnv(func(c *corev1.Container) { setEnv(c, "RAY_AUTH_MODE", corev1.EnvVar{Name: "UNUSED"}) })
		},
		"RAY_AUTH_MODE=disabled": func() []string {
			return withEnv(func(c *corev1.Container) {
				setEnv(c, "RAY_AUTH_MODE", corev1.EnvVar{Name: "RAY_AUTH_MODE", Value: "disabled"})
			})
		},
		"token in plain text": func() []string {
			return withEnv(func(c *corev1.Container) { setEnv(c, tokenKey, corev1.EnvVar{Name: tokenKey, Value: "abc"}) })
		},
		"token from another Secret": func() []string {
			return withEnv(func(c *corev1.Container) { envOf(*c, tokenKey).ValueFrom.SecretKeyRef.Name = "other" })
		},
		"token optional": func() []string {
			return withEnv(func(c *corev1.Container) { envOf(*c, tokenKey).ValueFrom.SecretKeyRef.Optional = &optional })
		},
		"Ray pod unlabelled": func() []string {
			tpl := *head.DeepCopy()
			delete(tpl.Labels, "app.kubernetes.io/component")
			return rayPodProblems(tpl)
		},
		"function unlabelled": func() []string {
			s := exec.DeepCopy()
			delete(s.Spec.Template.Labels, "app.kubernetes.io/component")
			return functionLockProblems(s)
		},
		"function without the Ray token": func() []string {
			s := exec.DeepCopy()
			envOf(s.Spec.Template.Spec.Containers[0], tokenKey).Name = "UNUSED"
			return functionLockProblems(s)
		},
		"Redis open to the namespace": func() []string {
			return withPolicies(func(pols []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
				named(pols, "redis").Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}}
				return pols
			})
		},
		"no policy on the Ray pods": func() []string {
			return withPolicies(func(pols []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
				return slices.DeleteFunc(pols, func(p *networkingv1.NetworkPolicy) bool { return p.Name == "ray" })
			})
		},
		"dashboard open to every port": func() []string {
			return withPolicies(func(pols []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
				named(pols, "ray").Spec.Ingress[0].Ports = nil
				return pols
			})
		},
		"dashboard open to the namespace": func() []string {
			return withPolicies(func(pols []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
				named(pols, "ray").Spec.Ingress[0].From[0].PodSelector = &metav1.LabelSelector{}
				return pols
			})
		},
	}
	for name, check := range cases {
		if len(check()) == 0 {
			t.Errorf("%s: the checks found nothing wrong", name)
		}
	}
}
