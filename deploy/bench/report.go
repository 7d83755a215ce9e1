package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// docs/performance.md's targets.
const (
	targetReady       = 30 * time.Millisecond
	targetRSS         = 30 << 20
	targetReadP99     = 2 * time.Millisecond
	targetExecuteP99  = 5 * time.Millisecond
	targetSubmissions = 1000.0
	// flatTolerance is how much slower a page may be with 100 times the history and still count as
	// flat: less than the run-to-run noise of a shared 2-core machine would make of it.
	flatTolerance = 1.25
)

// report collects everything the table shows.
type report struct {
	machine               machine
	loadBefore, loadAfter string
	jitter                jitter
	command               string
	opts                  options
	starts                []startup
	scenarios             []*scenario
	// shapes is nil when the sentinel scenario did not run.
	shapes *shapesResult
	// dispatch is nil when the dispatch scenario did not run.
	dispatch *dispatchResult
	// runnerTraced is nil when the runner-traced scenario did not run.
	runnerTraced *tracedDispatchResult
	// capacity is nil when the capacity scenario did not run.
	capacity *capacityResult
	// autoscale is nil when the autoscaling scenario did not run.
	autoscale *autoscaleResult
	// clusters is nil when the clusters scenario did not run.
	clusters *clustersResult
}

// row is one line of the table; verdict is "pass", "FAIL" or "" (a figure with no target).
type row struct {
	figure, measured, target, verdict string
}

func (r *report) rows() []row {
	var rows []row
	for _, s := range r.starts {
		rows = append(rows, row{s.fn + ": exec to ready, median of " + strconv.Itoa(r.opts.starts),
			ms(s.ready), "< 30 ms", verdict(s.ready < targetReady)})
		after := int64(0)
		for _, sc := range r.scenarios {
			for _, t := range sc.targets {
				if t.fn == s.fn && t.protocol == protoJSON { // the RPC twins' are in the protocol table
					after = max(after, t.rssAfter)
				}
			}
		}
		// docs/performance.md bounds the RSS of a process at ready; under load the functions trade
		// some memory for fewer collections (transport/gc.go), so the second figure is shown, not
		// judged.
		rss := row{s.fn + ": RSS at ready / after the load", mib(s.rss) + " / " + mib(after), "< 30 MiB at ready",
			verdict(s.rss < targetRSS)}
		if after == 0 {
			rss.figure, rss.measured = s.fn+": RSS at ready (not loaded in this run)", mib(s.rss)
		}
		rows = append(rows, rss)
	}
	var base *target
	for _, sc := range r.scenarios {
		for _, t := range sc.targets {
			// The RPC twins are in the protocol table, beside their JSON route.
			if t.protocol == protoJSON {
				rows = append(rows, r.targetRows(sc, t, &base)...)
			}
		}
	}
	return rows
}

// targetRows are the latency and saturation lines of one target; base is the first active-jobs
// target, which the next one is compared with.
func (r *report) targetRows(sc *scenario, t *target, base **target) []row {
	p50 := medianOf(t.open, func(o openResult) time.Duration { return o.p50 })
	p99 := medianOf(t.open, func(o openResult) time.Duration { return o.p99 })
	errs := 0
	for _, o := range t.open {
		errs += o.errors
	}
	for _, s := range t.sat {
		errs += s.errors
	}
	rate := sc.rate / len(sc.targets)
	best := slices.MinFunc(t.open, func(a, b openResult) int { return cmp.Compare(a.p99, b.p99) }).p99
	measured := fmt.Sprintf("%s / %s ms (best run's p99 %s), %s req/s sent, generator lag p99 %s, CPU steal %.1f %%", msBare(p50), msBare(p99),
		ms(best), thousands(int(medianOf(t.open, func(o openResult) float64 { return o.achieved }))),
		ms(medianOf(t.open, func(o openResult) time.Duration { return o.lag99 })),
		100*medianOf(t.open, func(o openResult) float64 { return o.steal }))
	if sc.stealRetries > 0 {
		measured += fmt.Sprintf(", %d runs repeated for steal over %.0f %%", sc.stealRetries, 100*r.opts.maxSteal)
	}
	if errs > 0 {
		measured += fmt.Sprintf(", %d errors (%v)", errs, firstError(t))
	}
	target, ok := "", errs == 0
	switch {
	case t.tracingOff != nil:
		off := medianOf(t.tracingOff.open, func(o openResult) time.Duration { return o.p99 })
		ratio := float64(p99) / float64(off)
		measured += fmt.Sprintf(" (p99 ×%.2f of tracing off)", ratio)
		target, ok = fmt.Sprintf("p99 within ×%.1f of tracing off", tracedTolerance), ok && ratio <= tracedTolerance
	case t.fn == "execute-deliberation":
		target, ok = "p99 < 5 ms", ok && p99 < targetExecuteP99
	case t.floor:
		target = "none: the setup's own latency"
	case t.stored > 0 && *base == nil:
		*base, target = t, "baseline of the next row"
	case t.stored > 0:
		ratio := float64(p50) / float64(medianOf((*base).open, func(o openResult) time.Duration { return o.p50 }))
		measured += fmt.Sprintf(" (p50 ×%.2f of %s stored)", ratio, thousands((*base).stored))
		target, ok = fmt.Sprintf("flat: p50 within ×%.2f", flatTolerance), ok && ratio <= flatTolerance
	default:
		target, ok = "p99 < 2 ms", ok && p99 < targetReadP99
	}
	latency := row{t.label + ": p50 / p99 at " + thousands(rate) + " req/s", measured, target, verdict(ok)}
	if t.floor && ok {
		latency.verdict = ""
	}
	tp := medianOf(t.sat, func(s satResult) float64 { return s.throughput })
	perCore := medianOf(t.sat, func(s satResult) float64 { return s.perCore })
	fnCPU := time.Duration(0)
	if perCore > 0 {
		fnCPU = time.Duration(float64(time.Second) / perCore)
	}
	sat := row{t.label + ": saturation, " + strconv.Itoa(r.opts.workers) + " workers",
		fmt.Sprintf("%s req/s; %s req/s per core (CPU per request: function %s, redis %s, bench process %s)",
			thousands(int(tp)), thousands(int(perCore)), us(fnCPU),
			us(medianOf(t.sat, func(s satResult) time.Duration { return s.redisCPU })),
			us(medianOf(t.sat, func(s satResult) time.Duration { return s.benchCPU }))),
		"a figure per core", ""}
	if t.fn == "execute-deliberation" {
		sat.target, sat.verdict = "> 1,000 submissions/s", verdict(tp > targetSubmissions && errs == 0)
	}
	return []row{latency, sat}
}

func firstError(t *target) error {
	for _, o := range t.open {
		if o.firstErr != nil {
			return o.firstErr
		}
	}
	for _, s := range t.sat {
		if s.firstErr != nil {
			return s.firstErr
		}
	}
	return nil
}

// notes explain how the figures were taken, under the table.
func (r *report) notes() []string {
	return []string{
		fmt.Sprintf("machine: %s, %s cores, %s, %s, %s; load average %s before, %s after",
			r.machine.CPU, r.machine.Cores, r.machine.OS, r.machine.Go, r.machine.Redis, r.loadBefore, r.loadAfter),
		"scheduling jitter of the idle machine before the runs: " + r.jitter.String() +
			". CPU steal is the share of the machine's CPU time its hypervisor gave to other guests during a latency run (median of the runs).",
		"command: " + r.command,
		fmt.Sprintf("Medians of %d runs; the best run's p99 is shown too, for a machine others share. Latency: open loop at a constant rate (%s requests per run of stats, status and "+
			"execute, %s of the pages), measured from each request's scheduled send time over keep-alive connections on "+
			"127.0.0.1, so it includes how late the generator itself sent (its lag, shown beside: on a busy machine the "+
			"generator waits for a core too).",
			r.opts.runs, thousands(r.opts.requests), thousands(r.opts.jobsCount)),
		fmt.Sprintf("Saturation: closed loop, %d workers; per core = requests per CPU-second of the function process. "+
			"The load generator and the fake Ray Jobs API run in the bench process, which shares the cores with "+
			"redis-server and the function: their CPU per request is shown beside.", r.opts.workers),
		fmt.Sprintf("Stored deliberations: half active (pending and running), half finished; pages of %d at cursors "+
			"spread over the whole active index, both history sizes alternating within each run. Status reads one of "+
			"%d finished deliberations of 3 agents (2 KiB proposals). At most %d requests in flight.",
			jobsLimit, finishedCount, maxInFlight),
	}
}

func (r *report) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tMEASURED\tTARGET\t")
	for _, row := range r.rows() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.figure, row.measured, row.target, row.verdict)
	}
	_ = tw.Flush()
	for _, n := range r.notes() {
		fmt.Fprintln(w, n)
	}
	if rows := r.protocolRows(); len(rows) > 0 {
		fmt.Fprintln(w)
		printTable(w, protocolHeader(r.opts), rows, r.protocolNotes())
	}
	if r.shapes != nil {
		fmt.Fprintln(w)
		printTable(w, r.shapes.header(), r.shapes.rows(), r.shapes.notes())
	}
	if r.dispatch != nil {
		fmt.Fprintln(w)
		printTable(w, r.dispatch.header(), r.dispatch.rows(), r.dispatch.notes(r.opts))
	}
	if r.runnerTraced != nil {
		fmt.Fprintln(w)
		printTable(w, r.runnerTraced.header(), r.runnerTraced.rows(), r.runnerTraced.notes())
	}
	if r.capacity != nil {
		fmt.Fprintln(w)
		printTable(w, r.capacity.header(), r.capacity.rows(), r.capacity.notes())
	}
	if r.autoscale != nil {
		fmt.Fprintln(w)
		printTable(w, r.autoscale.header(), r.autoscale.rows(), r.autoscale.notes())
	}
	if r.clusters != nil {
		fmt.Fprintln(w)
		printTable(w, r.clusters.header(), r.clusters.rows(), r.clusters.notes())
	}
}

// printTable writes a table of cells, aligned, and the notes under it.
func printTable(w io.Writer, header []string, rows [][]string, notes []string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, cells := range append([][]string{header}, rows...) {
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	_ = tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}

// markdownTable is printTable in Markdown.
func markdownTable(b *strings.Builder, header []string, rows [][]string, notes []string) {
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|" + strings.Repeat("---|", len(header)) + "\n")
	for _, cells := range rows {
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString("\n")
	for _, n := range notes {
		b.WriteString(n + "\n\n")
	}
}

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("| figure | measured | target | |\n|---|---|---|---|\n")
	for _, row := range r.rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.figure, row.measured, row.target, row.verdict)
	}
	b.WriteString("\n")
	for _, n := range r.notes() {
		b.WriteString(n + "\n\n")
	}
	if rows := r.protocolRows(); len(rows) > 0 {
		markdownTable(&b, protocolHeader(r.opts), rows, r.protocolNotes())
	}
	if r.shapes != nil {
		markdownTable(&b, r.shapes.header(), r.shapes.rows(), r.shapes.notes())
	}
	if r.dispatch != nil {
		markdownTable(&b, r.dispatch.header(), r.dispatch.rows(), r.dispatch.notes(r.opts))
	}
	if r.runnerTraced != nil {
		markdownTable(&b, r.runnerTraced.header(), r.runnerTraced.rows(), r.runnerTraced.notes())
	}
	if r.capacity != nil {
		markdownTable(&b, r.capacity.header(), r.capacity.rows(), r.capacity.notes())
	}
	if r.autoscale != nil {
		markdownTable(&b, r.autoscale.header(), r.autoscale.rows(), r.autoscale.notes())
	}
	if r.clusters != nil {
		markdownTable(&b, r.clusters.header(), r.clusters.rows(), r.clusters.notes())
	}
	return b.String()
}

func verdict(ok bool) string {
	if ok {
		return "pass"
	}
	return "FAIL"
}

// medianOf is the median of one figure over the runs.
func medianOf[R any, V time.Duration | float64](runs []R, f func(R) V) V {
	if len(runs) == 0 {
		return 0
	}
	vs := make([]V, len(runs))
	for i, r := range runs {
		vs[i] = f(r)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

func us(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) + " µs" }

func ms(d time.Duration) string { return msBare(d) + " ms" }

func msBare(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// thousands writes n with comma separators, as docs/performance.md writes its numbers.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
