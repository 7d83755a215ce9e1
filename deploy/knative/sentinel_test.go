package knative

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/transport"
)

// The Sentinel variant: deploy/knative-sentinel, the four functions with the component
// redis-sentinel.
const (
	sentinelOverlay = "../knative-sentinel"
	sentinelSet     = "redis-sentinel"
	sentinelPort    = 26379
	redisPort       = 6379
	// waitSetting makes the functions WAIT for a replica after an acknowledged write.
	waitSetting = "REDIS_MIN_REPLICAS_ACK"
)

// kustomizing serialises the builds: kustomize fills its global OpenAPI schema on first use
// without a lock, so two parallel tests building at once race (the race detector says so).
var kustomizing sync.Mutex

// build is `kustomize build dir` through kustomize's own Go library (components and delete
// patches included), decoded strictly as load decodes the other folders.
// relativeTo turns a path of this package into one relative to dir: kustomize takes bases by
// relative path only.
func relativeTo(t *testing.T, dir string) func(string) string {
	return func(p string) string {
		a, err := filepath.Abs(p)
		if err == nil {
			a, err = filepath.Rel(dir, a)
		}
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
}

// kustomizeBuild is `kustomize build dir` through kustomize's Go library, one build at a time.
func kustomizeBuild(t *testing.T, dir string) []byte {
	t.Helper()
	kustomizing.Lock()
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	kustomizing.Unlock()
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func build(t *testing.T, dir string) deployment {
	t.Helper()
	out := kustomizeBuild(t, dir)
	d := deployment{namespace: namespace}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return d
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		if err := d.addDoc(doc, nil); err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
	}
}

// monitorLine is the sentinels' monitor directive in start-sentinel.sh: group name and quorum.
var monitorLine = regexp.MustCompile(`(?m)^\s*sentinel monitor (\S+) \S+ ` + strconv.Itoa(redisPort) + ` (\d+)$`)

// sentinelProblems checks the Sentinel variant against what docs/state.md and docs/deploy.md
// promise: the standalone Redis gone; a group of at least three pods, each a data node and a
// sentinel, one per machine; AOF everysec, noeviction, min-replicas-to-write; a policy as tight
// as the standalone one; every function on REDIS_MODE=sentinel with WAIT 1 and a failover URL
// naming every sentinel and the monitored group.
func sentinelProblems(d deployment) []string {
	var p []string
	for _, set := range d.sets {
		if set.Name == "redis" {
			p = append(p, "the standalone Redis StatefulSet is still deployed")
		}
	}
	for _, np := range d.policies {
		if np.Name == "redis" {
			p = append(p, "the standalone Redis's NetworkPolicy is still deployed")
		}
	}
	i := slices.IndexFunc(d.sets, func(s *appsv1.StatefulSet) bool { return s.Name == sentinelSet })
	if i < 0 {
		return append(p, "no StatefulSet "+sentinelSet)
	}
	set := d.sets[i]
	replicas := 1
	if set.Spec.Replicas != nil {
		replicas = int(*set.Spec.Replicas)
	}
	if replicas < 3 {
		p = append(p, fmt.Sprintf("%d pods: a Sentinel group needs at least three (a primary, a replica, a quorum of sentinels)", replicas))
	}
	spec := set.Spec.Template.Spec
	var names []string
	for _, c := range spec.Containers {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"redis", "sentinel"}) {
		p = append(p, fmt.Sprintf("containers %v, want a data node and a sentinel per pod", names))
	}
	if a := spec.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 ||
		a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].TopologyKey != "kubernetes.io/hostname" {
		p = append(p, "pods not spread one per machine (required anti-affinity on kubernetes.io/hostname)")
	}
	if len(set.Spec.VolumeClaimTemplates) == 0 {
		p = append(p, "no volume for the AOF")
	}
	cm := configMapOf(d, spec.Volumes)
	if cm == nil {
		return append(p, "the group's ConfigMap is not deployed")
	}
	conf := redisConf(cm.Data["redis.conf"])
	for name, want := range map[string]string{"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction", "dir": "/data"} {
		if conf[name] != want {
			p = append(p, fmt.Sprintf("redis.conf: %s is %q, want %q", name, conf[name], want))
		}
	}
	if n, _ := strconv.Atoi(conf["min-replicas-to-write"]); n < 1 {
		p = append(p, fmt.Sprintf("redis.conf: min-replicas-to-write is %q, want at least 1", conf["min-replicas-to-write"]))
	}
	master, quorum := "", 0
	if m := monitorLine.FindStringSubmatch(cm.Data["start-sentinel.sh"]); m != nil {
		master, quorum = m[1], atoi(m[2])
	}
	if master == "" || quorum <= replicas/2 || quorum > replicas {
		p = append(p, fmt.Sprintf("the sentinels monitor %q with quorum %d: want a majority of %d", master, quorum, replicas))
	}
	p = append(p, headlessProblems(d, set.Spec.ServiceName, set.Spec.Template.Labels)...)
	p = append(p, sentinelPolicyProblems(d, set.Spec.Template.Labels)...)
	want := []string{}
	for n := range replicas {
		want = append(want, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local:%d", set.Name, n, set.Spec.ServiceName, d.namespace, sentinelPort))
	}
	functions := 0
	for _, s := range d.services {
		if labels.SelectorFromSet(functionPod).Matches(labels.Set(s.Spec.Template.Labels)) {
			functions++
			p = append(p, sentinelFunctionProblems(d, s.Name, s.Spec.Template.Spec.Containers[0], master, want)...)
		}
	}
	if functions == 0 {
		p = append(p, "no function deployed")
	}
	return p
}

// sentinelFunctionProblems: the function reads REDIS_MODE=sentinel, waits for one replica, and
// its REDIS_URL names every sentinel of the group and the group's name; the variables pass
// config.Load as the function starts.
func sentinelFunctionProblems(d deployment, name string, c corev1.Container, master string, sentinels []string) []string {
	var p []string
	values := map[string]string{}
	for _, e := range c.Env {
		values[e.Name], _ = d.resolve(e)
	}
	if values["REDIS_MODE"] != config.RedisSentinel {
		p = append(p, fmt.Sprintf("%s: REDIS_MODE is %q, want sentinel", name, values["REDIS_MODE"]))
	}
	if values[waitSetting] != "1" {
		p = append(p, fmt.Sprintf("%s: %s is %q, want 1 (WAIT for a replica after an acknowledged write)", name, waitSetting, values[waitSetting]))
	}
	if o, err := redis.ParseFailoverURL(values["REDIS_URL"]); err != nil {
		p = append(p, fmt.Sprintf("%s: REDIS_URL is no failover URL: %v", name, err))
	} else {
		if o.MasterName != master {
			p = append(p, fmt.Sprintf("%s: REDIS_URL names the group %q, the sentinels monitor %q", name, o.MasterName, master))
		}
		if got := slices.Sorted(slices.Values(o.SentinelAddrs)); !slices.Equal(got, sentinels) {
			p = append(p, fmt.Sprintf("%s: REDIS_URL lists the sentinels %v, want every one of %v", name, got, sentinels))
		}
	}
	svc := d.service(name)
	for _, msg := range envProblems(svc, transport.Function(name), d) {
		p = append(p, name+": "+msg)
	}
	return p
}

// headlessProblems: the Service the pods' stable names come from is headless, published before
// the pods are ready (a starting node looks for the sentinels), selects the pods, and serves both
// ports.
func headlessProblems(d deployment, name string, podLabels map[string]string) []string {
	i := slices.IndexFunc(d.k8sSvcs, func(s *corev1.Service) bool { return s.Name == name })
	if i < 0 {
		return []string{"no headless Service " + name}
	}
	s := d.k8sSvcs[i]
	var p []string
	if s.Spec.ClusterIP != corev1.ClusterIPNone || !s.Spec.PublishNotReadyAddresses {
		p = append(p, "Service "+name+": want headless (clusterIP None) with publishNotReadyAddresses")
	}
	if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(podLabels)) {
		p = append(p, "Service "+name+" does not select the group's pods")
	}
	var ports []int
	for _, port := range s.Spec.Ports {
		ports = append(ports, int(port.Port))
	}
	if slices.Sort(ports); !slices.Equal(ports, []int{redisPort, sentinelPort}) {
		p = append(p, fmt.Sprintf("Service %s serves %v, want %d and %d", name, ports, redisPort, sentinelPort))
	}
	return p
}

// sentinelPolicyProblems: one policy selects the group's pods and admits, on the data and
// sentinel ports, the functions, the Ray pods and the group itself, and nobody else.
func sentinelPolicyProblems(d deployment, podLabels map[string]string) []string {
	var selecting []*networkingv1.NetworkPolicy
	for _, np := range d.policies {
		if sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); err == nil && sel.Matches(labels.Set(podLabels)) {
			selecting = append(selecting, np)
		}
	}
	if len(selecting) != 1 {
		return []string{fmt.Sprintf("%d NetworkPolicies select the group's pods, want 1", len(selecting))}
	}
	np := selecting[0]
	var p []string
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		p = append(p, "the group's policy does not restrict ingress")
	}
	admitted := map[string]bool{}
	for _, rule := range np.Spec.Ingress {
		var ports []int
		for _, port := range rule.Ports {
			ports = append(ports, port.Port.IntValue())
		}
		if slices.Sort(ports); !slices.Equal(ports, []int{redisPort, sentinelPort}) {
			p = append(p, fmt.Sprintf("a rule admits ports %v, want %d and %d", ports, redisPort, sentinelPort))
		}
		if len(rule.From) == 0 {
			p = append(p, "a rule admits every source")
		}
		for _, peer := range rule.From {
			if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil || len(peer.PodSelector.MatchLabels) == 0 {
				p = append(p, fmt.Sprintf("a rule admits more than a labelled pod of the namespace: %+v", peer))
				continue
			}
			admitted[labels.Set(peer.PodSelector.MatchLabels).String()] = true
		}
	}
	for _, want := range []map[string]string{functionPod, rayPod, {"app.kubernetes.io/name": sentinelSet}} {
		if !admitted[labels.Set(want).String()] {
			p = append(p, fmt.Sprintf("the group's policy does not admit %v", want))
		}
		delete(admitted, labels.Set(want).String())
	}
	for extra := range admitted {
		p = append(p, "the group's policy admits "+extra+" too")
	}
	return p
}

func configMapOf(d deployment, volumes []corev1.Volume) *corev1.ConfigMap {
	for _, v := range volumes {
		if v.ConfigMap == nil {
			continue
		}
		for _, cm := range d.configMaps {
			if cm.Name == v.ConfigMap.Name {
				return cm
			}
		}
	}
	return nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestSentinelVariant builds deploy/knative/sentinel with kustomize and checks it.
func TestSentinelVariant(t *testing.T) {
	t.Parallel()
	d := build(t, sentinelOverlay)
	for _, msg := range sentinelProblems(d) {
		t.Error(msg)
	}
	for _, f := range []transport.Function{transport.FunctionExecute, transport.FunctionStatus, transport.FunctionStats, transport.FunctionJobs} {
		if d.service(string(f)) == nil {
			t.Errorf("the overlay does not deploy %s", f)
		}
	}
	for _, err := range knativeErrors(validationContext(t), d) {
		t.Error(err)
	}
}

// TestSentinelChecksCatchMistakes breaks the built overlay one field at a time.
func TestSentinelChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	conf := func(from, to string) func(d *deployment) {
		return func(d *deployment) {
			for _, cm := range d.configMaps {
				for k, v := range cm.Data {
					cm.Data[k] = strings.ReplaceAll(v, from, to)
				}
			}
		}
	}
	setting := func(key, value string) func(d *deployment) {
		return func(d *deployment) {
			for _, cm := range d.configMaps {
				if _, ok := cm.Data[key]; ok && cm.Name == settings {
					cm.Data[key] = value
				}
			}
			for _, s := range d.secrets {
				if _, ok := s.StringData[key]; ok {
					s.StringData[key] = value
				}
			}
		}
	}
	cases := map[string]func(d *deployment){
		"AOF off":                     conf("appendonly yes", "appendonly no"),
		"fsync left to the kernel":    conf("appendfsync everysec", "appendfsync no"),
		"keys evicted":                conf("noeviction", "allkeys-lru"),
		"writes a primary cannot ack": conf("min-replicas-to-write 1", "min-replicas-to-write 0"),
		"quorum of one":               conf(" 6379 2\n", " 6379 1\n"),
		"another group name":          conf("sentinel monitor rxredis", "sentinel monitor other"),
		"standalone mode":             setting("REDIS_MODE", "standalone"),
		"no WAIT":                     setting(waitSetting, "0"),
		"a sentinel left out": func(d *deployment) {
			u := d.secrets[0].StringData["REDIS_URL"]
			setting("REDIS_URL", regexp.MustCompile(`addr=[^&]+&`).ReplaceAllString(u, ""))(d)
		},
		"two pods": func(d *deployment) { *d.sets[0].Spec.Replicas = 2 },
		"pods on one machine": func(d *deployment) {
			d.sets[0].Spec.Template.Spec.Affinity = nil
		},
		"policy open to the namespace": func(d *deployment) {
			for _, np := range d.policies {
				if np.Name == sentinelSet {
					np.Spec.Ingress[0].From = append(np.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{})
				}
			}
		},
		"the standalone Redis kept": func(d *deployment) {
			s := d.sets[0].DeepCopy()
			s.Name = "redis"
			d.sets = append(d.sets, s)
		},
		"not headless": func(d *deployment) {
			for _, s := range d.k8sSvcs {
				if s.Name == sentinelSet {
					s.Spec.ClusterIP = ""
				}
			}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := build(t, sentinelOverlay)
			if len(sentinelProblems(d)) > 0 {
				t.Fatal("the overlay fails before the mutation")
			}
			mutate(&d)
			if len(sentinelProblems(d)) == 0 {
				t.Error("the checks pass the broken overlay")
			}
		})
	}
}

// TestSentinelComponentOnCombined: the component turns the combined function's deployment into
// the Sentinel variant too, as docs/deploy.md tells (an overlay of ../combined with it).
func TestSentinelComponentOnCombined(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	abs := relativeTo(t, dir)
	text := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\n"+
		"resources:\n- %s\ncomponents:\n- %s\n", namespace, abs(combined), abs("redis-sentinel"))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	d := build(t, dir)
	for _, msg := range sentinelProblems(d) {
		t.Error(msg)
	}
	if d.service(string(transport.FunctionCombined)) == nil {
		t.Error("the combined function is not deployed")
	}
}

// sentinelRunnerArgs are the runner's args rayservice.yaml tells to set with the Sentinel
// variant (in comments beside its own, since KubeRay takes the Serve config as one document).
var sentinelRunnerArgs = regexp.MustCompile(`(?m)^\s*#\s+(redis_mode|redis_url): (\S+)$`)

// TestRayServiceSentinelArgs: the runner's mode and URL that rayservice.yaml gives for the
// Sentinel variant are the functions' REDIS_MODE and REDIS_URL there, and the runner's own
// parser would read them as a Sentinel group (config.Load validates the same URL form).
func TestRayServiceSentinelArgs(t *testing.T) {
	t.Parallel()
	d := build(t, sentinelOverlay)
	args := map[string]string{}
	for _, m := range sentinelRunnerArgs.FindAllStringSubmatch(loadRayService(t).Spec.ServeConfigV2, -1) {
		args[m[1]] = m[2]
	}
	if want := functionSetting(t, d, "REDIS_MODE"); args["redis_mode"] != want {
		t.Errorf("rayservice.yaml tells redis_mode %q for the Sentinel variant, the functions have %q", args["redis_mode"], want)
	}
	if want := functionSetting(t, d, "REDIS_URL"); args["redis_url"] != want {
		t.Errorf("rayservice.yaml tells redis_url %q for the Sentinel variant, the functions have %q", args["redis_url"], want)
	}
}

// TestSentinelComponentListsEveryManifest: a manifest in the component's folder that its
// kustomization does not name would be neither applied nor checked.
func TestSentinelComponentListsEveryManifest(t *testing.T) {
	t.Parallel()
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := readLoose(filepath.Join("redis-sentinel", "kustomization.yaml"), &k); err != nil {
		t.Fatal(err)
	}
	all, err := filepath.Glob(filepath.Join("redis-sentinel", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if name := filepath.Base(f); name != "kustomization.yaml" && !slices.Contains(k.Resources, name) {
			t.Errorf("%s is not in the component's resources", f)
		}
	}
}
