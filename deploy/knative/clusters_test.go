package knative

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/transport"
)

// Several Ray clusters: deploy/knative-clusters (the functions with the list of clusters) and one
// overlay of deploy/ray-clusters per cluster.
const (
	clustersOverlay = "../knative-clusters"
	rayClustersDir  = "../ray-clusters"
	// clusterLabel names the cluster on its RayService or RayCluster.
	clusterLabel = "rayexecutor.io/cluster"
	// rayClusterComponents are the folders of rayClustersDir that are components, not clusters.
	rayServiceComponent, rayClusterComponent = "rayservice", "raycluster"
)

// rayObjects are the Ray resources an overlay of deploy/ray-clusters renders, decoded strictly.
type rayObjects struct {
	services []rayService
	clusters []rayCluster
}

// buildRay is `kustomize build dir` of a Ray overlay through kustomize's Go library.
func buildRay(t *testing.T, dir string) rayObjects {
	t.Helper()
	out := kustomizeBuild(t, dir)
	var o rayObjects
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return o
		}
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ APIVersion, Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatal(err)
		}
		switch head.APIVersion + "/" + head.Kind {
		case "ray.io/v1/RayService":
			var rs rayService
			err = yaml.UnmarshalStrict(doc, &rs)
			o.services = append(o.services, rs)
		case "ray.io/v1/RayCluster":
			var rc rayCluster
			err = yaml.UnmarshalStrict(doc, &rc)
			o.clusters = append(o.clusters, rc)
		default:
			err = fmt.Errorf("unexpected %s %s", head.APIVersion, head.Kind)
		}
		if err != nil {
			t.Fatalf("kustomize build %s: %v", dir, err)
		}
	}
}

// rayOverlays builds every cluster overlay of deploy/ray-clusters, by folder name.
func rayOverlays(t *testing.T) map[string]rayObjects {
	t.Helper()
	entries, err := os.ReadDir(rayClustersDir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]rayObjects{}
	for _, e := range entries {
		if e.IsDir() && e.Name() != rayServiceComponent && e.Name() != rayClusterComponent {
			out[e.Name()] = buildRay(t, filepath.Join(rayClustersDir, e.Name()))
		}
	}
	return out
}

// mounted writes what the container's volume mounts would show (ConfigMap and Secret keys as
// files) under root, the pod's file system, as the kubelet would.
func mounted(d deployment, s corev1.PodSpec, root string) error {
	volumes := map[string]corev1.Volume{}
	for _, v := range s.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range s.Containers[0].VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return fmt.Errorf("volume mount %s names no volume", m.Name)
		}
		files := map[string]string{}
		switch {
		case v.ConfigMap != nil:
			i := slices.IndexFunc(d.configMaps, func(cm *corev1.ConfigMap) bool { return cm.Name == v.ConfigMap.Name })
			if i < 0 {
				return fmt.Errorf("volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
			}
			maps.Copy(files, d.configMaps[i].Data)
		case v.Secret != nil:
			i := slices.IndexFunc(d.secrets, func(s *corev1.Secret) bool { return s.Name == v.Secret.SecretName })
			if i < 0 {
				return fmt.Errorf("volume %s: no Secret %s", v.Name, v.Secret.SecretName)
			}
			maps.Copy(files, d.secrets[i].StringData)
			for k, b := range d.secrets[i].Data {
				files[k] = string(b)
			}
		default:
			return fmt.Errorf("volume %s: only ConfigMaps and Secrets are mounted here", v.Name)
		}
		dir := filepath.Join(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for k, body := range files {
			if err := os.WriteFile(filepath.Join(dir, k), []byte(body), 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadClusterConfig is config.Load as the function's pod runs it: its variables resolved, its
// mounts written under a scratch root, and the paths it reads (RAY_CLUSTERS_FILE and each
// cluster's token_file) taken there. The list is otherwise untouched JSON, so a field the
// functions' config does not know fails as it would at start.
func loadClusterConfig(d deployment, name string, root string) (config.Config, error) {
	s := d.service(name)
	if s == nil {
		return config.Config{}, fmt.Errorf("no Service %s", name)
	}
	if err := mounted(d, s.Spec.Template.Spec.PodSpec, root); err != nil {
		return config.Config{}, err
	}
	values := map[string]string{}
	for _, e := range s.Spec.Template.Spec.Containers[0].Env {
		v, err := d.resolve(e)
		if err != nil {
			return config.Config{}, err
		}
		values[e.Name] = v
	}
	if file := values["RAY_CLUSTERS_FILE"]; file != "" {
		raw, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			return config.Config{}, fmt.Errorf("RAY_CLUSTERS_FILE %s is in no mount: %w", file, err)
		}
		var list []map[string]any
		if err := json.Unmarshal(raw, &list); err != nil {
			return config.Config{}, fmt.Errorf("RAY_CLUSTERS_FILE: %w", err)
		}
		for _, c := range list {
			if f, ok := c["token_file"].(string); ok {
				c["token_file"] = filepath.Join(root, f)
			}
		}
		if raw, err = json.Marshal(list); err != nil {
			return config.Config{}, err
		}
		values["RAY_CLUSTERS_FILE"] = filepath.Join(root, "clusters.json")
		if err := os.WriteFile(values["RAY_CLUSTERS_FILE"], raw, 0o600); err != nil {
			return config.Config{}, err
		}
	}
	cfg, err := config.Load(func(k string) string { return values[k] }, config.Options{NeedsRay: true})
	for i := range cfg.Ray.Clusters {
		// The path as the pod sees it.
		cfg.Ray.Clusters[i].TokenFile = strings.TrimPrefix(cfg.Ray.Clusters[i].TokenFile, root)
	}
	return cfg, err
}

// tokenOf is the token the test gives each cluster in the Secret ray-cluster-tokens.
func tokenOf(cluster string) string { return "token-of-" + cluster }

// clustersProblems checks the functions' list of clusters against the Ray overlays: each
// function that talks to Ray loads it (RAY_CLUSTERS_FILE mounted, each token from the cluster's
// own key of the mounted Secret), and each listed cluster is one overlay whose dashboard is its
// address, whose pods use the same token, and whose runner has its name and pools.
func clustersProblems(t *testing.T, d deployment, rays map[string]rayObjects) []string {
	t.Helper()
	for _, s := range d.secrets {
		if s.Name == "ray-cluster-tokens" {
			for k := range s.StringData {
				s.StringData[k] = tokenOf(k)
			}
		}
	}
	var p []string
	var clusters []config.RayCluster
	for _, f := range []transport.Function{transport.FunctionExecute, transport.FunctionStatus} {
		if s := d.service(string(f)); s != nil {
			for _, e := range s.Spec.Template.Spec.Containers[0].Env {
				if e.Name != "LISTEN_ADDRESS" && !slices.Contains(config.Variables(), e.Name) {
					p = append(p, fmt.Sprintf("%s: %s is read by no code", f, e.Name))
				}
			}
		}
		cfg, err := loadClusterConfig(d, string(f), t.TempDir())
		if err != nil {
			p = append(p, fmt.Sprintf("%s: %v", f, err))
			continue
		}
		if cfg.Ray.DeployRunner {
			p = append(p, fmt.Sprintf("%s deploys the runner (RAY_SERVE_DEPLOY) over the RayServices' own", f))
		}
		if clusters == nil {
			clusters = cfg.Ray.Clusters
		} else if !reflect.DeepEqual(clusters, cfg.Ray.Clusters) {
			p = append(p, fmt.Sprintf("%s reads another list of clusters", f))
		}
	}
	if len(clusters) < 2 {
		return append(p, fmt.Sprintf("the functions list %d clusters, want several", len(clusters)))
	}
	for _, c := range clusters {
		if c.Token != tokenOf(c.Name) {
			p = append(p, fmt.Sprintf("cluster %s: the functions read the token %q, not its own key of ray-cluster-tokens", c.Name, c.Token))
		}
		o, ok := rays[c.Name]
		if !ok {
			p = append(p, fmt.Sprintf("cluster %s has no overlay %s/%s", c.Name, rayClustersDir, c.Name))
			continue
		}
		p = append(p, rayOverlayProblems(t, c, o)...)
	}
	for name := range rays {
		if !slices.ContainsFunc(clusters, func(c config.RayCluster) bool { return c.Name == name }) {
			p = append(p, fmt.Sprintf("overlay %s is a cluster the functions do not list: they would never publish its draining", name))
		}
	}
	return p
}

// rayOverlayProblems checks one cluster's overlay: one RayService named and labelled for the
// cluster, its head Service the cluster's address, its pods on the cluster's token, its runner's
// args `cluster` and `pools` the list's, and the rest of its Serve config rayservice.yaml's.
func rayOverlayProblems(t *testing.T, c config.RayCluster, o rayObjects) []string {
	t.Helper()
	at := "cluster " + c.Name + ": "
	if len(o.services) != 1 || len(o.clusters) != 0 {
		return []string{fmt.Sprintf("%srenders %d RayServices and %d RayClusters, want one RayService", at, len(o.services), len(o.clusters))}
	}
	rs := o.services[0]
	var p []string
	if rs.Metadata.Labels[clusterLabel] != c.Name {
		p = append(p, fmt.Sprintf("%slabel %s is %q", at, clusterLabel, rs.Metadata.Labels[clusterLabel]))
	}
	if !strings.HasSuffix(rs.Metadata.Name, "-"+c.Name) {
		p = append(p, fmt.Sprintf("%sthe RayService %s does not carry the cluster's name", at, rs.Metadata.Name))
	}
	head := fmt.Sprintf("%s-head-svc.%s.svc.cluster.local:%d", rs.Metadata.Name, namespace, 8265)
	if u, err := url.Parse(c.Address); err != nil || u.Host != head {
		p = append(p, fmt.Sprintf("%saddress %s is not the RayService's dashboard %s", at, c.Address, head))
	}
	p = append(p, tokenRefProblems(at, rs.Spec.RayClusterConfig, c.Name)...)

	var doc map[string]any
	if err := yaml.Unmarshal([]byte(rs.Spec.ServeConfigV2), &doc); err != nil {
		return append(p, at+"serveConfigV2: "+err.Error())
	}
	var args map[string]any
	if apps, _ := doc["applications"].([]any); len(apps) == 1 {
		app, _ := apps[0].(map[string]any)
		args, _ = app["args"].(map[string]any)
	}
	if args["cluster"] != c.Name {
		p = append(p, fmt.Sprintf("%sthe runner's arg cluster is %v", at, args["cluster"]))
	}
	var pools []string
	given, _ := args["pools"].([]any)
	for _, v := range given {
		pools = append(pools, fmt.Sprint(v))
	}
	if !slices.Equal(pools, c.Pools) {
		p = append(p, fmt.Sprintf("%sthe runner reads pools %v, the functions send it %v", at, pools, c.Pools))
	}
	// Without the two, the config must be rayservice.yaml's, checked as that file is.
	rest := rs
	rest.Spec.ServeConfigV2 = withoutClusterArgs(rs.Spec.ServeConfigV2)
	for _, msg := range rayServiceProblems(rest, loadRunnerWant(t)) {
		p = append(p, at+msg)
	}
	return p
}

// withoutClusterArgs drops the two args the overlays append (a line each, at the end).
func withoutClusterArgs(doc string) string {
	var keep []string
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(line, "    cluster: ") && !strings.HasPrefix(line, "    pools: ") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// tokenRefProblems: every Ray pod of the cluster reads RAY_AUTH_TOKEN from the cluster's key of
// ray-cluster-tokens, the Secret the functions mount.
func tokenRefProblems(at string, s rayClusterSpec, cluster string) []string {
	templates := []corev1.PodTemplateSpec{s.HeadGroupSpec.Template}
	for _, g := range s.WorkerGroupSpecs {
		templates = append(templates, g.Template)
	}
	var p []string
	for _, tpl := range templates {
		for _, ctr := range tpl.Spec.Containers {
			i := slices.IndexFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == "RAY_AUTH_TOKEN" })
			if i < 0 || ctr.Env[i].ValueFrom == nil || ctr.Env[i].ValueFrom.SecretKeyRef == nil {
				p = append(p, at+ctr.Name+" reads no RAY_AUTH_TOKEN from a Secret")
				continue
			}
			if ref := ctr.Env[i].ValueFrom.SecretKeyRef; ref.Name != "ray-cluster-tokens" || ref.Key != cluster {
				p = append(p, fmt.Sprintf("%s%s reads its token from %s/%s, not ray-cluster-tokens/%s", at, ctr.Name, ref.Name, ref.Key, cluster))
			}
		}
	}
	return p
}

// TestSeveralRayClusters builds deploy/knative-clusters and every overlay of deploy/ray-clusters
// and checks they agree; the functions' Services pass Knative's validation.
func TestSeveralRayClusters(t *testing.T) {
	t.Parallel()
	d := build(t, clustersOverlay)
	for _, msg := range clustersProblems(t, d, rayOverlays(t)) {
		t.Error(msg)
	}
	for _, err := range knativeErrors(validationContext(t), d) {
		t.Error(err)
	}
	for _, f := range []transport.Function{transport.FunctionExecute, transport.FunctionStatus, transport.FunctionStats, transport.FunctionJobs} {
		if d.service(string(f)) == nil {
			t.Errorf("the overlay does not deploy %s", f)
		}
	}
}

// TestSeveralRayClustersChecksCatchMistakes breaks the built overlays one field at a time.
func TestSeveralRayClustersChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	list := func(from, to string) func(*deployment, map[string]rayObjects) {
		return func(d *deployment, _ map[string]rayObjects) {
			for _, cm := range d.configMaps {
				if v, ok := cm.Data["clusters.json"]; ok {
					if !strings.Contains(v, from) {
						t.Fatalf("clusters.json has no %q", from)
					}
					cm.Data["clusters.json"] = strings.Replace(v, from, to, 1)
				}
			}
		}
	}
	setting := func(key, value string) func(*deployment, map[string]rayObjects) {
		return func(d *deployment, _ map[string]rayObjects) {
			for _, cm := range d.configMaps {
				if cm.Name == settings {
					cm.Data[key] = value
				}
			}
		}
	}
	serve := func(from, to string) func(*deployment, map[string]rayObjects) {
		return func(_ *deployment, rays map[string]rayObjects) {
			rs := &rays["east"].services[0]
			if !strings.Contains(rs.Spec.ServeConfigV2, from) {
				t.Fatalf("east's serveConfigV2 has no %q", from)
			}
			rs.Spec.ServeConfigV2 = strings.Replace(rs.Spec.ServeConfigV2, from, to, 1)
		}
	}
	for name, mutate := range map[string]func(*deployment, map[string]rayObjects){
		"a misspelt field":                list(`"token_file"`, `"tokenfile"`),
		"a token outside the mounts":      list(`/etc/ray-executor/ray-cluster-tokens/east`, `/etc/ray-executor/tokens/east`),
		"the token of another cluster":    list(`ray-cluster-tokens/east`, `ray-cluster-tokens/west`),
		"the address of another":          list(`ray-executor-runner-east-head-svc`, `ray-executor-runner-west-head-svc`),
		"pools the runner lacks":          list(`"pools": ["default"]`, `"pools": ["default", "gpu"]`),
		"a cluster without overlay":       list(`"name": "east"`, `"name": "north"`),
		"RAY_ADDRESS left set":            setting("RAY_ADDRESS", "http://ray-executor-head-svc.ray-executor.svc.cluster.local:8265"),
		"the functions deploy the runner": setting("RAY_SERVE_DEPLOY", "true"),
		"no mounts": func(d *deployment, _ map[string]rayObjects) {
			d.service(string(transport.FunctionStatus)).Spec.Template.Spec.Containers[0].VolumeMounts = nil
		},
		"the runner of another cluster":  serve("cluster: east", "cluster: west"),
		"another package on one cluster": serve("_ray_pkg_", "_ray_pkg_0"),
		"pods on the shared token": func(_ *deployment, rays map[string]rayObjects) {
			c := &rays["west"].services[0].Spec.RayClusterConfig.WorkerGroupSpecs[0].Template.Spec.Containers[0]
			for i := range c.Env {
				if c.Env[i].Name == "RAY_AUTH_TOKEN" {
					c.Env[i].ValueFrom.SecretKeyRef.Name, c.Env[i].ValueFrom.SecretKeyRef.Key = settings, "RAY_AUTH_TOKEN"
				}
			}
		},
		"an overlay the functions do not list": func(_ *deployment, rays map[string]rayObjects) { rays["south"] = rays["west"] },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, rays := build(t, clustersOverlay), rayOverlays(t)
			if p := clustersProblems(t, d, rays); len(p) > 0 {
				t.Fatalf("the overlays fail before the mutation: %v", p)
			}
			mutate(&d, rays)
			p := clustersProblems(t, d, rays)
			if len(p) == 0 {
				t.Error("the checks pass the broken overlays")
			}
			t.Log(p)
		})
	}
}

// TestRayClusterComponent: the other way to run a cluster, a RayCluster the functions deploy
// the runner on, named, labelled and on its own token as the RayService variant is.
func TestRayClusterComponent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rel := relativeTo(t, dir)
	text := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnameSuffix: -north\n"+
		"resources:\n- %s\n- cluster.yaml\ncomponents:\n- %s\n", rel("../ray"), rel(filepath.Join(rayClustersDir, rayClusterComponent)))
	cluster, err := os.ReadFile(filepath.Join(rayClustersDir, "east", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"kustomization.yaml": text, "cluster.yaml": strings.Replace(string(cluster), "name: east", "name: north", 1)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := buildRay(t, dir)
	if len(o.clusters) != 1 || len(o.services) != 0 {
		t.Fatalf("renders %d RayClusters and %d RayServices, want one RayCluster", len(o.clusters), len(o.services))
	}
	rc := o.clusters[0]
	if rc.Metadata.Name != loadRayCluster(t).Metadata.Name+"-north" || rc.Metadata.Labels[clusterLabel] != "north" {
		t.Errorf("RayCluster %s labelled %v", rc.Metadata.Name, rc.Metadata.Labels)
	}
	for _, msg := range tokenRefProblems("", rc.Spec, "north") {
		t.Error(msg)
	}
	for _, msg := range rc.Spec.containerProblems() {
		t.Error(msg)
	}
}

// TestRayClustersComponentOnCombined: the component gives the combined function the list too, as
// docs/deploy.md tells (an overlay of ../combined with it).
func TestRayClustersComponentOnCombined(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rel := relativeTo(t, dir)
	text := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\n"+
		"resources:\n- %s\ncomponents:\n- %s\n", namespace, rel(combined), rel("ray-clusters"))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	d := build(t, dir)
	cfg, err := loadClusterConfig(d, string(transport.FunctionCombined), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Ray.Clusters) < 2 || cfg.Ray.DeployRunner {
		t.Errorf("the combined function reads %d clusters (deploys the runner: %v)", len(cfg.Ray.Clusters), cfg.Ray.DeployRunner)
	}
	for _, err := range knativeErrors(validationContext(t), d) {
		t.Error(err)
	}
}

// TestRayClustersComponentNamesEveryFile: a file in the component's folder that its
// kustomization does not name would be neither applied nor checked.
func TestRayClustersComponentNamesEveryFile(t *testing.T) {
	t.Parallel()
	var k struct {
		Resources          []string `json:"resources"`
		Configurations     []string `json:"configurations"`
		ConfigMapGenerator []struct {
			Files []string `json:"files"`
		} `json:"configMapGenerator"`
	}
	if err := readLoose(filepath.Join("ray-clusters", "kustomization.yaml"), &k); err != nil {
		t.Fatal(err)
	}
	named := slices.Concat(k.Resources, k.Configurations, []string{"kustomization.yaml"})
	for _, g := range k.ConfigMapGenerator {
		named = append(named, g.Files...)
	}
	entries, err := os.ReadDir("ray-clusters")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !slices.Contains(named, e.Name()) {
			t.Errorf("ray-clusters/%s is not named by the component", e.Name())
		}
	}
}

// TestRayServiceArgsComeLast: the component of deploy/ray-clusters appends `cluster` and `pools`
// at the end of rayservice.yaml's Serve config, which must therefore end with the application's
// args and set neither itself.
func TestRayServiceArgsComeLast(t *testing.T) {
	t.Parallel()
	if p := argsLastProblems(loadRayService(t).Spec.ServeConfigV2); p != "" {
		t.Error(p)
	}
	moved := "      args:\n        key_prefix: rayexec\n      deployments:\n      - name: DeliberationRunner\n"
	for name, doc := range map[string]string{
		"args before deployments": "applications:\n- name: deliberation-runner\n" + strings.ReplaceAll(moved, "      ", "  "),
		"a cluster of its own":    "applications:\n- name: deliberation-runner\n  args:\n    key_prefix: rayexec\n    cluster: default\n",
	} {
		if argsLastProblems(doc) == "" {
			t.Errorf("%s: passed", name)
		}
	}
}

func argsLastProblems(doc string) string {
	var last string
	for line := range strings.SplitSeq(doc, "\n") {
		if len(line) > 2 && line[:2] == "  " && line[2] != ' ' && line[2] != '#' {
			last = strings.TrimSpace(line)
		}
		if strings.HasPrefix(line, "    cluster: ") || strings.HasPrefix(line, "    pools: ") {
			return "rayservice.yaml sets " + strings.TrimSpace(line) + ": each cluster's overlay appends its own"
		}
	}
	if last != "args:" {
		return fmt.Sprintf("rayservice.yaml's application ends with %q, not args: the overlays would append their args elsewhere", last)
	}
	return ""
}
