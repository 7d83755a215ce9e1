package knative

import (
	"net/url"
	"strconv"
	"testing"
)

// TestSettingsNameThisDeployment ties the settings to the objects they point at, which live in
// other files and would otherwise drift apart silently: the Broker's ingress for the wake-up, the
// head Service KubeRay creates for deploy/ray/raycluster.yaml, the Redis Service, and the worker
// slots a job's driver asks for.
func TestSettingsNameThisDeployment(t *testing.T) {
	t.Parallel()
	d := load(t, perFunction)
	value := func(name string) string {
		for _, s := range d.services {
			for _, e := range s.Spec.Template.Spec.Containers[0].Env {
				if e.Name == name {
					v, err := d.resolve(e)
					if err != nil {
						t.Fatal(err)
					}
					return v
				}
			}
		}
		t.Fatalf("no Service sets %s", name)
		return ""
	}
	broker := d.brokers[0]
	// MTChannelBasedBroker's ingress, whatever channel backs it, is <ingress>/<namespace>/<broker>.
	wantCallback := "http://broker-ingress.knative-eventing.svc.cluster.local/" + d.namespace + "/" + broker.Name
	if got := value("RAY_EXECUTOR_CALLBACK_URL"); got != wantCallback {
		t.Errorf("RAY_EXECUTOR_CALLBACK_URL is %s, want the Broker's ingress %s", got, wantCallback)
	}
	rc := loadRayCluster(t)
	wantRay := dashboardAddress(t, rc, d.namespace)
	if got := value("RAY_ADDRESS"); got != wantRay {
		t.Errorf("RAY_ADDRESS is %s, want the RayCluster's dashboard %s", got, wantRay)
	}
	// A job asking for more logical CPUs than any worker offers would stay PENDING for good.
	if cpus, _ := strconv.ParseFloat(value("RAY_JOB_NUM_CPUS"), 64); cpus > 0 {
		fits := false
		for _, g := range rc.Spec.WorkerGroupSpecs {
			offer, _ := strconv.ParseFloat(g.RayStartParams["num-cpus"], 64)
			fits = fits || offer >= cpus
		}
		if !fits {
			t.Errorf("RAY_JOB_NUM_CPUS %v fits no worker group of the RayCluster", cpus)
		}
	}
	u, err := url.Parse(value("REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.serves(u.Hostname(), u.Port()) {
		t.Errorf("REDIS_URL names %s, which no Service of the deployment serves", u.Host)
	}
}

// serves reports whether host:port is a Kubernetes Service of the deployment.
func (d deployment) serves(host, port string) bool {
	for _, s := range d.k8sSvcs {
		if host != s.Name+"."+d.namespace+".svc.cluster.local" {
			continue
		}
		for _, p := range s.Spec.Ports {
			if strconv.Itoa(int(p.Port)) == port {
				return true
			}
		}
	}
	return false
}
