package main

import (
	"fmt"
	"strconv"
	"time"
)

// docs/performance.md's targets of serve mode.
const (
	targetServeP50   = 150 * time.Millisecond
	targetServeBurst = 2 * time.Second
	targetServeRSS   = 512 << 20
)

var wayLabels = map[string]string{
	"serve":  "serve: the functions, the runner on Ray Serve",
	"jobs":   "jobs: the functions, a Ray job per deliberation",
	"actors": "seed-style driver: an actor per agent",
	"tasks":  "floor: warm Ray tasks from a driver",
}

// header and rows are the scenario's table: each way's figures and, beside them, their ratio to
// serve's; the last row judges serve against its targets.
func (d *dispatchResult) header() []string {
	n := strconv.Itoa(d.burstSize)
	return []string{"way", "one deliberation p50", "p90", n + " at once", n + "/s", "peak extra RSS"}
}

func (d *dispatchResult) rows() [][]string {
	serve := d.ways[0]
	var rows [][]string
	for _, w := range d.ways {
		cells := []string{wayLabels[w.name]}
		for _, f := range wayFigures {
			v, base := f.value(w, d.burstSize), f.value(serve, d.burstSize)
			cell := f.format(v)
			if w.name != serve.name && base > 0 {
				cell += fmt.Sprintf(" (×%s)", ratio(v/base))
			}
			cells = append(cells, cell)
		}
		rows = append(rows, cells)
	}
	p50, rss := quantile(serve.runs, 0.5), serve.extraRSS()
	return append(rows, []string{"target of serve",
		"≤ 0.15 s: " + met(p50 <= targetServeP50), "",
		"≤ 2 s: " + met(serve.burst <= targetServeBurst), "",
		"≤ 0.5 GiB: " + met(rss <= targetServeRSS)})
}

// wayFigures are the table's columns after the way's name.
var wayFigures = []struct {
	value  func(w wayResult, burst int) float64
	format func(float64) string
}{
	{func(w wayResult, _ int) float64 { return quantile(w.runs, 0.5).Seconds() }, seconds},
	{func(w wayResult, _ int) float64 { return quantile(w.runs, 0.9).Seconds() }, seconds},
	{func(w wayResult, _ int) float64 { return w.burst.Seconds() }, seconds},
	{func(w wayResult, burst int) float64 { return float64(burst) / w.burst.Seconds() }, func(v float64) string { return fmt.Sprintf("%.1f", v) }},
	{func(w wayResult, _ int) float64 { return float64(w.extraRSS()) }, func(v float64) string { return memory(int64(v)) }},
}

func (d *dispatchResult) notes(opts options) []string {
	return []string{
		fmt.Sprintf("Dispatch: one deliberation of 3 agents and a judge call, against the fake model server of internal/fakes/modelserver (in the bench process, answering at once), "+
			"on one local Ray head the bench started with deploy/local/rayhead.sh (2 CPUs, up in %s) and stopped after. Each way: %d warm-ups, then %d deliberations one after "+
			"the other (p50 and p90 by nearest rank), then %d started at once, timed until the last is done. The ratio beside a figure is it divided by serve's.",
			d.headStart.Round(100*time.Millisecond), dispatchWarmups, opts.dispatchRuns, d.burstSize),
		fmt.Sprintf("serve and jobs are timed as a caller sees them: POST to execute-deliberation, then GET of the status function's route every %d ms (every %d ms for each "+
			"deliberation of a burst) until completed; the wake-up goes to the status function. The drivers (deploy/bench/dispatch_driver.py, one long-lived ray.init each) "+
			"time request to result themselves; their agents are num_cpus=0 actors or tasks, the judge call is the driver's.", onePoll.Milliseconds(), burstPoll.Milliseconds()),
		fmt.Sprintf("Peak extra RSS: the highest summed RSS, sampled every %d ms during the burst, of the head's processes (those naming its temp dir, its process group and "+
			"all their descendants: workers, Serve, job drivers) plus the functions or the driver, minus the same sum just before the burst. Shared pages count once per process.", rssSample.Milliseconds()),
	}
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// seconds writes a duration below a second in milliseconds, so serve's few milliseconds keep their
// digits beside the seconds of jobs mode.
func seconds(s float64) string {
	if s < 1 {
		return fmt.Sprintf("%.1f ms", s*1000)
	}
	return fmt.Sprintf("%.2f s", s)
}

func memory(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	}
	return mib(b)
}

// ratio keeps two significant digits below 1, so jobs mode's fraction of serve's rate is not 0.00.
func ratio(r float64) string {
	switch {
	case r >= 10:
		return fmt.Sprintf("%.0f", r)
	case r >= 1:
		return fmt.Sprintf("%.2f", r)
	}
	return strconv.FormatFloat(r, 'g', 2, 64)
}
