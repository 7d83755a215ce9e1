package jobsrouter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rayexecutor/functions/shared/app"
	"github.com/rayexecutor/functions/shared/deliberation"
)

var _ app.RayCluster = (*Router)(nil)

// Member is one Ray cluster behind the router.
type Member struct {
	// Name names the cluster (config.RayCluster.Name): in status answers and in Redis keys.
	Name string
	// Port is the cluster's own adapter (a rayjobs.Cluster).
	Port app.RayCluster
	// Pools are the pools it takes attempts of.
	Pools []string
	// Capacity weighs it against the others: the router keeps outstanding/capacity even.
	Capacity int
	// Draining keeps new attempts away; the ones it holds are still asked about.
	Draining bool
	// Breaker reports the state of the cluster's circuit breaker ("closed", "half-open", "open").
	Breaker func() string
}

// Options configure a Router.
type Options struct {
	// Prefix is the store's key prefix (REDIS_KEY_PREFIX).
	Prefix string
	// PlacementTTL bounds how long an attempt stays placed (default 48 h: longer than any
	// deliberation's timeout).
	PlacementTTL time.Duration
	// LostAfter is how long a cluster must have answered nothing but "unavailable" (as this
	// replica saw it) before its attempts are reported lost (app.ErrClusterLost): a blip never
	// moves a long-running attempt. The wiring sets PENDING_LIMIT; default 15 minutes.
	LostAfter time.Duration
	Log       *slog.Logger
}

const (
	defaultPlacementTTL = 48 * time.Hour
	defaultLostAfter    = 15 * time.Minute
)

// Router is the app.RayCluster port over several clusters.
type Router struct {
	members   []Member
	byName    map[string]*Member
	placed    placements
	lostAfter time.Duration
	// downSince holds, per cluster name, when its current run of unavailable answers began (unix
	// ns; 0 while it answers).
	downSince map[string]*atomic.Int64
	log       *slog.Logger
}

// New checks the members: at least one, distinct names, a port, a breaker and a positive capacity.
func New(rdb redis.UniversalClient, members []Member, opt Options) (*Router, error) {
	var problems []error
	if rdb == nil {
		problems = append(problems, errors.New("jobs router: a Redis client is required"))
	}
	if len(members) == 0 {
		problems = append(problems, errors.New("jobs router: at least one cluster is required"))
	}
	r := &Router{members: slices.Clone(members), byName: map[string]*Member{}, downSince: map[string]*atomic.Int64{},
		lostAfter: opt.LostAfter, log: opt.Log}
	for i := range r.members {
		m := &r.members[i]
		if _, dup := r.byName[m.Name]; dup || m.Name == "" {
			problems = append(problems, fmt.Errorf("jobs router: cluster name %q is empty or repeated", m.Name))
		}
		if m.Port == nil || m.Breaker == nil || m.Capacity < 1 || len(m.Pools) == 0 {
			problems = append(problems, fmt.Errorf("jobs router: cluster %q needs a port, a breaker, pools and a capacity of at least 1", m.Name))
		}
		r.byName[m.Name] = m
		r.downSince[m.Name] = new(atomic.Int64)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	ttl := opt.PlacementTTL
	if ttl <= 0 {
		ttl = defaultPlacementTTL
	}
	if r.lostAfter <= 0 {
		r.lostAfter = defaultLostAfter
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.placed = placements{rdb: rdb, prefix: opt.Prefix, ttl: ttl}
	return r, nil
}

// eligible are the clusters that may take a new attempt of pool: they serve it and are not
// draining; among them, those whose breaker is closed, or, when none is, those whose breaker is
// not open (a half-open one lets a probe through). except leaves one cluster out.
func (r *Router) eligible(pool, except string) []candidate {
	var closed, probing []candidate
	for _, m := range r.members {
		if m.Name == except || m.Draining || !slices.Contains(m.Pools, pool) {
			continue
		}
		switch m.Breaker() {
		case "closed":
			closed = append(closed, candidate{name: m.Name, capacity: m.Capacity})
		case "half-open":
			probing = append(probing, candidate{name: m.Name, capacity: m.Capacity})
		}
	}
	if len(closed) > 0 {
		return closed
	}
	return probing
}

// Submit places d's current attempt (once: a replay finds its placement) and submits it there.
func (r *Router) Submit(ctx context.Context, d deliberation.Deliberation, req deliberation.Request) error {
	pool := req.PoolName()
	for range 2 {
		cands := r.eligible(pool, "")
		at, fresh, ok, err := r.placed.place(ctx, d.SubmissionID, pool, cands, rand.IntN(max(len(cands), 1)))
		if err != nil {
			return err
		}
		if !ok {
			return deliberation.Errorf(deliberation.CodeUnavailable,
				"submit %s: no Ray cluster can take pool %q now (none serves it, or all are draining or unreachable)", d.SubmissionID, pool)
		}
		m, known := r.byName[at.Cluster]
		if !known {
			// Placed on a cluster the configuration no longer lists: nothing here can reach it,
			// so place it again (once; a replica with the old list may disagree).
			if err := r.placed.unplace(ctx, d.SubmissionID, at.Cluster); err != nil {
				return err
			}
			continue
		}
		if fresh {
			r.log.DebugContext(ctx, "attempt placed", "submission_id", d.SubmissionID, "cluster", m.Name, "pool", pool)
		}
		return r.note(m, m.Port.Submit(ctx, d, req))
	}
	return deliberation.Errorf(deliberation.CodeUnavailable, "submit %s: placed on a Ray cluster this configuration does not list", d.SubmissionID)
}

// lookup is the cluster an attempt is placed on; nil when it has none (placed before the router,
// or expired) or its cluster is no longer configured: then every cluster is asked.
func (r *Router) lookup(ctx context.Context, submissionID string) (*Member, placement, error) {
	at, ok, err := r.placed.get(ctx, submissionID)
	if err != nil || !ok {
		return nil, at, err
	}
	return r.byName[at.Cluster], at, nil
}

// note records whether m answered (anything but unavailable) and passes err on.
func (r *Router) note(m *Member, err error) error {
	down := r.downSince[m.Name]
	if deliberation.ErrorCode(err) == deliberation.CodeUnavailable {
		down.CompareAndSwap(0, time.Now().UnixNano())
	} else {
		down.Store(0)
	}
	return err
}

// downFor is how long m has answered nothing but unavailable; 0 while it answers.
func (r *Router) downFor(m *Member) time.Duration {
	since := r.downSince[m.Name].Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}
