package main

import (
	"context"
	"slices"
	"time"
)

// startup is a function's start as docs/performance.md measures it: the median over several starts
// of the time from exec to the first readiness 200, and of the RSS right then.
type startup struct {
	fn    string
	ready time.Duration
	rss   int64
}

func measureStarts(ctx context.Context, bin string, env map[string]string, n int) (startup, error) {
	readies := make([]time.Duration, 0, n)
	rsss := make([]int64, 0, n)
	var name string
	for range n {
		p, err := launch(ctx, bin, env)
		if err != nil {
			return startup{}, err
		}
		rss, err := rssBytes(p.pid())
		p.stop()
		if err != nil {
			return startup{}, err
		}
		name = p.name
		readies, rsss = append(readies, p.ready), append(rsss, rss)
	}
	slices.Sort(readies)
	slices.Sort(rsss)
	return startup{fn: name, ready: readies[len(readies)/2], rss: rsss[len(rsss)/2]}, nil
}
