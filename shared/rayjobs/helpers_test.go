package rayjobs_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/rayexecutor/functions/internal/raytest"
	"github.com/rayexecutor/functions/shared/rayjobs"
)

func realRayAddress(t *testing.T) string { return raytest.RealAddress(t) }

var openLimits = raytest.OpenLimits

// fastClientConfig gives tests short timeouts and a breaker they can watch.
func fastClientConfig(addr string) rayjobs.ClientConfig {
	return rayjobs.ClientConfig{Address: addr, Timeout: 2 * time.Second, TransferTimeout: 5 * time.Second,
		RetryBackoff: 10 * time.Millisecond, BreakerOpenFor: 200 * time.Millisecond}
}

func newClient(t *testing.T, addr string, change func(*rayjobs.ClientConfig)) *rayjobs.Client {
	t.Helper()
	cfg := fastClientConfig(addr)
	if change != nil {
		change(&cfg)
	}
	c, err := rayjobs.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fakeRay(t *testing.T) (*raytest.Server, *rayjobs.Client) {
	t.Helper()
	s := raytest.Start(t)
	return s, newClient(t, s.URL(), nil)
}

func uniqueID(name string) string { return raytest.UniqueID(name) }

// waitFor polls a job until done accepts it or the deadline passes.
func waitFor(t *testing.T, c *rayjobs.Client, id string, within time.Duration, done func(rayjobs.JobDetails) bool) rayjobs.JobDetails {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j, err := c.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if done(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s: %s", id, j.Status, within, j.Message)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func terminal(j rayjobs.JobDetails) bool { return j.Status.Terminal() }

// settle waits until Ray's job monitor has let go of a finished job: a job deleted sooner comes
// back as a ghost record (see the contract).
func settle(j rayjobs.JobDetails) {
	time.Sleep(time.Until(time.UnixMilli(j.EndTime).Add(2 * time.Second)))
}

// cleanupJob stops and deletes a job at the end of the test, so a real Ray does not keep it.
func cleanupJob(t testing.TB, c *rayjobs.Client, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = c.Stop(ctx, id)
		for ctx.Err() == nil {
			j, err := c.Get(ctx, id)
			if errors.Is(err, rayjobs.ErrNotFound) {
				return
			}
			if err == nil && j.Status.Terminal() {
				settle(j)
				if _, err := c.Delete(ctx, id); err == nil || errors.Is(err, rayjobs.ErrNotFound) {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("job %s not deleted", id)
	})
}

// zipPackage builds a working_dir package of files and names it the way Ray does, by content.
func zipPackage(t *testing.T, files map[string]string) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return "_ray_pkg_" + hex.EncodeToString(sum[:8]) + ".zip", buf.Bytes()
}
