package jobsrouter_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// head is a local Ray head of a test's own (deploy/local/rayhead.sh with its ports and temp dir).
type head struct {
	env     []string
	tempDir string
	Address string
}

// twoHeadPorts are the GCS/dashboard ports of the router's real-head tests' two heads:
// RAY_TEST_ROUTER_HEADS, default "6393/8293,6394/8294" (ports no other suite uses).
func twoHeadPorts(t *testing.T) [][2]string {
	t.Helper()
	v := os.Getenv("RAY_TEST_ROUTER_HEADS")
	if v == "" {
		v = "6393/8293,6394/8294"
	}
	var ports [][2]string
	for _, pair := range strings.Split(v, ",") {
		gcs, dash, ok := strings.Cut(pair, "/")
		if !ok {
			t.Fatalf("RAY_TEST_ROUTER_HEADS: %q is not gcs/dashboard", pair)
		}
		ports = append(ports, [2]string{gcs, dash})
	}
	return ports
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// startHead starts a head on gcs/dash and stops it when the test ends.
func startHead(t *testing.T, gcs, dash string) *head {
	t.Helper()
	root := repoRoot(t)
	venvBin := filepath.Join(root, ".venv", "bin")
	h := &head{tempDir: "/tmp/rxrouter-" + gcs}
	h.env = append(os.Environ(), "PATH="+venvBin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"RAY_HEAD_PORT="+gcs, "RAY_DASHBOARD_PORT="+dash, "RAY_HEAD_TEMP_DIR="+h.tempDir,
		"RAY_JOB_START_TIMEOUT_SECONDS=45")
	h.run(t, "stop")
	h.Address = strings.TrimSpace(h.run(t, "start"))
	t.Cleanup(func() { h.run(t, "stop") })
	return h
}

func (h *head) run(t *testing.T, verb string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(t), "deploy", "local", "rayhead.sh"), verb)
	cmd.Env = h.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rayhead.sh %s: %v\n%s%s", verb, err, out, stderr.String())
	}
	return string(out)
}

// kill SIGKILLs every process of the head at once, as a lost machine (`rayhead.sh kill`: its
// process group, what names its temp dir, and all their descendants, the job drivers among them),
// and returns the script's line saying how many it killed.
func (h *head) kill(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(h.run(t, "kill"))
}

// twoHeads starts the two heads of RAY_TEST_ROUTER_HEADS at once.
func twoHeads(t *testing.T) []*head {
	t.Helper()
	ports := twoHeadPorts(t)
	if len(ports) != 2 {
		t.Fatalf("RAY_TEST_ROUTER_HEADS names %d heads, want 2", len(ports))
	}
	heads := make([]*head, 2)
	var wg sync.WaitGroup
	for i := range heads {
		wg.Go(func() { heads[i] = startHead(t, ports[i][0], ports[i][1]) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return heads
}
