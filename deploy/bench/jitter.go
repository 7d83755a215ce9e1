package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// jitter is how late an idle machine wakes a sleeping thread: on a virtual machine whose host
// runs other guests (CPU steal), every process stalls now and then for milliseconds, and a tail
// latency target tighter than those stalls cannot be met by any code. The table reports it so a
// missed p99 can be told from a slow function.
type jitter struct {
	tries        int
	late2, late5 int
	lost, span   time.Duration
}

const (
	jitterSleep = 500 * time.Microsecond
	jitterSpan  = 5 * time.Second
)

// measureJitter sleeps jitterSleep over and over for jitterSpan and counts the oversleeps.
func measureJitter() jitter {
	j := jitter{span: jitterSpan}
	end := time.Now().Add(jitterSpan)
	for time.Now().Before(end) {
		t := time.Now()
		time.Sleep(jitterSleep)
		late := time.Since(t) - jitterSleep
		j.tries++
		if late > 2*time.Millisecond {
			j.late2++
			j.lost += late
		}
		if late > 5*time.Millisecond {
			j.late5++
		}
	}
	return j
}

func (j jitter) String() string {
	return fmt.Sprintf("a 0.5 ms sleep overslept by more than 2 ms in %s of %s tries (%.1f %% of the time lost in them), by more than 5 ms %d times, in %s",
		thousands(j.late2), thousands(j.tries), 100*float64(j.lost)/float64(j.span), j.late5, j.span)
}

// cpuTicks are the machine's CPU times from /proc/stat: all of them, and the steal (time the
// hypervisor gave this guest's CPUs to another).
type cpuTicks struct{ total, steal int64 }

func readCPUTicks() cpuTicks {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	var t cpuTicks
	for i, v := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseInt(v, 10, 64)
		t.total += n
		if i == 7 {
			t.steal = n
		}
	}
	return t
}

// stealShare is the share of CPU time stolen between two readings.
func stealShare(before, after cpuTicks) float64 {
	if after.total <= before.total {
		return 0
	}
	return float64(after.steal-before.steal) / float64(after.total-before.total)
}
