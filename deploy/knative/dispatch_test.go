package knative

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"

	"github.com/rayexecutor/functions/shared/config"
	"github.com/rayexecutor/functions/shared/transport"
)

// dashboardAddress is the RayCluster's dashboard as the functions reach it: the head Service
// KubeRay creates (<cluster>-head-svc) at the head container's dashboard port.
func dashboardAddress(t *testing.T, rc rayCluster, namespace string) string {
	t.Helper()
	for _, c := range rc.Spec.HeadGroupSpec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == "dashboard" {
				return "http://" + rc.Metadata.Name + "-head-svc." + namespace + ".svc.cluster.local:" + strconv.Itoa(int(p.ContainerPort))
			}
		}
	}
	t.Fatal("the RayCluster's head declares no dashboard port")
	return ""
}

// dispatchProblems checks what a function that dispatches starts with: the serve dispatch (the
// Serve runner, not a Ray job per attempt), the RayCluster's dashboard as RAY_ADDRESS, and the
// runner deployed by the function itself (RAY_SERVE_DEPLOY not off), since no manifest carries
// the runner's code: it is embedded in the function's image.
func dispatchProblems(s *servingv1.Service, d deployment, dashboard string) []string {
	values := map[string]string{}
	for _, e := range s.Spec.Template.Spec.Containers[0].Env {
		v, err := d.resolve(e)
		if err != nil {
			return []string{err.Error()}
		}
		values[e.Name] = v
	}
	cfg, err := config.Load(func(k string) string { return values[k] }, config.Options{NeedsRay: true})
	if err != nil {
		return []string{err.Error()}
	}
	var p []string
	if cfg.Ray.Dispatch != config.DispatchServe {
		p = append(p, fmt.Sprintf("RAY_DISPATCH is %s, want serve: the Serve runner, not a Ray job per attempt", cfg.Ray.Dispatch))
	}
	if cfg.Ray.Address != dashboard {
		p = append(p, fmt.Sprintf("RAY_ADDRESS is %s, want the RayCluster's dashboard %s", cfg.Ray.Address, dashboard))
	}
	if !cfg.Ray.DeployRunner {
		p = append(p, "the function does not deploy the runner (RAY_SERVE_DEPLOY): nothing else puts it on the RayCluster")
	}
	return p
}

func TestFunctionsRunTheServeRunnerOnTheRayCluster(t *testing.T) {
	t.Parallel()
	rc := loadRayCluster(t)
	for _, dir := range []string{perFunction, combined} {
		d := load(t, dir)
		dashboard := dashboardAddress(t, rc, d.namespace)
		checked := 0
		for _, s := range d.services {
			f := transport.Function(s.Name)
			if !slices.Contains(functions, f) || !f.NeedsRay() {
				continue
			}
			checked++
			for _, msg := range dispatchProblems(s, d, dashboard) {
				t.Errorf("%s: %s: %s", dir, s.Name, msg)
			}
		}
		if checked == 0 {
			t.Errorf("%s: no function that dispatches", dir)
		}
	}
}

func TestDispatchChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	rc := loadRayCluster(t)
	d := load(t, perFunction)
	dashboard := dashboardAddress(t, rc, d.namespace)
	good := d.service(string(transport.FunctionExecute))
	if p := dispatchProblems(good, d, dashboard); len(p) > 0 {
		t.Fatalf("execute-deliberation itself has problems: %v", p)
	}
	with := func(name, value string) *servingv1.Service {
		s := good.DeepCopy()
		env := s.Spec.Template.Spec.Containers[0].Env
		env = slices.DeleteFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
		s.Spec.Template.Spec.Containers[0].Env = append(env, corev1.EnvVar{Name: name, Value: value})
		return s
	}
	for name, s := range map[string]*servingv1.Service{
		"jobs dispatch":       with("RAY_DISPATCH", "jobs"),
		"deploy turned off":   with("RAY_SERVE_DEPLOY", "false"),
		"no dashboard":        with("RAY_ADDRESS", ""),
		"another port":        with("RAY_ADDRESS", "http://ray-executor-head-svc.ray-executor.svc.cluster.local:8266"),
		"another Ray cluster": with("RAY_ADDRESS", "http://ray-executor-runner-head-svc.ray-executor.svc.cluster.local:8265"),
	} {
		if len(dispatchProblems(s, d, dashboard)) == 0 {
			t.Errorf("%s: the checks found nothing wrong", name)
		}
	}
}
