package deliberation

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// pooled serves the default pool, "gpu" (models big-1, big-2) and "cpu" (model small).
var pooled = Limits{Allowlist: AllowAny(nil), Pools: []string{"cpu", "default", "gpu"},
	PoolModels: map[string][]string{"gpu": {"big-1", "big-2"}, "cpu": {"small"}}}

func withModels(judge string, agents ...string) RequestInput {
	in := validInput()
	in.VLLMModel = judge
	in.Agents = nil
	for i, m := range agents {
		in.Agents = append(in.Agents, AgentConfig{AgentID: "a" + string(rune('1'+i)), Role: "DEV", Model: m})
	}
	return in
}

func TestNewRequestResolvesThePool(t *testing.T) {
	named := validInput()
	named.Pool = "cpu"
	cases := []struct {
		name string
		in   RequestInput
		lim  Limits
		want string
	}{
		{"named, whatever the models", named, pooled, "cpu"},
		{"every model in one pool", withModels("big-2", "big-1", "big-2"), pooled, "gpu"},
		{"judge and agents in one pool", withModels("small", "small", "small"), pooled, "cpu"},
		{"models of two pools: default", withModels("big-1", "big-1", "small"), pooled, ""},
		{"judge in another pool: default", withModels("small", "big-1", "big-2"), pooled, ""},
		{"one model in no pool: default", withModels("big-1", "big-1", "m9"), pooled, ""},
		{"no pools configured: default", validInput(), open, ""},
	}
	for _, c := range cases {
		req, err := NewRequest(c.in, c.lim)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if req.Pool != c.want {
			t.Errorf("%s: pool = %q, want %q", c.name, req.Pool, c.want)
		}
		d := New(IDFromKey(c.name), req, t0)
		if want := map[bool]string{true: DefaultPool, false: c.want}[c.want == ""]; d.PoolName() != want || req.PoolName() != want {
			t.Errorf("%s: entry pool %q, request pool %q, want %q", c.name, d.PoolName(), req.PoolName(), want)
		}
	}
}

func TestNewRequestRefusesAnUnservedPool(t *testing.T) {
	named := validInput()
	named.Pool = "tpu"
	unserved := pooled
	unserved.Pools = []string{"default"} // RAY_POOL_MODELS is checked at start; the request still is
	for name, c := range map[string]struct {
		in   RequestInput
		lim  Limits
		want string
	}{
		"named":            {named, pooled, `no Ray cluster serves pool "tpu" (served: [cpu default gpu])`},
		"named, no pools":  {named, open, `no Ray cluster serves pool "tpu" (served: [default])`},
		"by models":        {withModels("big-1", "big-1"), unserved, `no Ray cluster serves the pool "gpu" the request's models map to (served: [default])`},
		"default unserved": {validInput(), Limits{Allowlist: AllowAny(nil), Pools: []string{"gpu"}}, `no Ray cluster serves the pool "default" the request's models map to (served: [gpu])`},
	} {
		_, err := NewRequest(c.in, c.lim)
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalid || len(e.Fields) != 1 || e.Fields[0].Field != "pool" || e.Fields[0].Message != c.want {
			t.Errorf("%s: error = %#v, want one problem on pool: %s", name, err, c.want)
		}
	}
	long := validInput()
	long.Pool = strings.Repeat("p", 5000)
	if _, err := NewRequest(long, pooled); err == nil || len(err.Error()) > 1000 {
		t.Errorf("a long pool name: error %.80v... not refused with its name cut short", err)
	}
}

func TestPlacedOn(t *testing.T) {
	d := newEntry(t)
	placed, ok := d.PlacedOn("ray-1", t0.Add(time.Second))
	if !ok || placed.Cluster != "ray-1" || !placed.UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("PlacedOn = %+v, %v", placed, ok)
	}
	if job, err := JobInfoOf(placed, t0.Add(time.Second)); err != nil || job.Cluster != "ray-1" {
		t.Errorf("active job = %+v, %v; want it on ray-1", job, err)
	}
	if _, ok := placed.PlacedOn("ray-1", t0.Add(2*time.Second)); ok {
		t.Error("the same cluster again changed the entry")
	}
	if _, ok := placed.PlacedOn("", t0.Add(2*time.Second)); ok {
		t.Error("no cluster changed the entry")
	}
	moved, ok := placed.PlacedOn("ray-2", t0.Add(2*time.Second))
	if !ok || moved.Cluster != "ray-2" {
		t.Errorf("another cluster: %+v, %v", moved, ok)
	}
	failed, _ := placed.Fail("x", t0.Add(3*time.Second))
	if after, ok := failed.PlacedOn("ray-2", t0.Add(4*time.Second)); ok || after.Cluster != "ray-1" {
		t.Errorf("a terminal entry moved to %q (%v)", after.Cluster, ok)
	}
	next, ok := placed.NextAttempt(t0.Add(5 * time.Second))
	if !ok || next.Cluster != "" || next.Attempts != 2 {
		t.Errorf("NextAttempt kept cluster %q (attempt %d, %v)", next.Cluster, next.Attempts, ok)
	}
	if evs := Events(d, placed); len(evs) != 0 {
		t.Errorf("a placement caused events %v", evs)
	}
}
