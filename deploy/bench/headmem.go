package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// headMemory sums the RSS of a Ray head's processes, found as deploy/local/rayhead.sh finds them
// to stop them: those naming the head's temp dir in an argument (GCS, raylet, dashboard), the
// process group the script recorded (the Ray client server names no temp dir), and every
// descendant of these, for workers rename themselves (ray::IDLE, ray::ServeReplica...).
type headMemory struct {
	tempDir string
	// names caches whether a process (pid and start time) names the temp dir: a command line is
	// read once, and a rename cannot hide a process seen before.
	names map[procKey]bool
}

func newHeadMemory(tempDir string) *headMemory {
	return &headMemory{tempDir: tempDir, names: map[procKey]bool{}}
}

type procKey struct{ pid, start int64 }

// procStat is what the bench reads of a process in /proc/<pid>/stat.
type procStat struct {
	key        procKey
	ppid, pgid int64
	rss        int64 // bytes
}

var pageSize = int64(os.Getpagesize())

// rssSample is the sampling period of a burst's peak.
const rssSample = 50 * time.Millisecond

// rss is the summed RSS of the head's processes, of the processes in extra (the functions, a
// driver) and of all their descendants.
func (m *headMemory) rss(extra []int) int64 {
	procs := readProcs()
	mine := map[int64]bool{}
	for pid, p := range procs {
		if m.namesTempDir(p.key) {
			mine[pid] = true
		}
	}
	// The recorded group counts only while one of its members names the temp dir, as in
	// rayhead.sh: a recycled group id is someone else's.
	pgid, owned := m.recordedGroup(), false
	for pid := range mine {
		owned = owned || (pgid > 0 && procs[pid].pgid == pgid)
	}
	for pid, p := range procs {
		if owned && p.pgid == pgid {
			mine[pid] = true
		}
	}
	for _, pid := range extra {
		if _, ok := procs[int64(pid)]; ok {
			mine[int64(pid)] = true
		}
	}
	for grew := true; grew; {
		grew = false
		for pid, p := range procs {
			if !mine[pid] && mine[p.ppid] {
				mine[pid], grew = true, true
			}
		}
	}
	var sum int64
	for pid := range mine {
		sum += procs[pid].rss
	}
	return sum
}

// peak samples rss(extra) every rssSample until the returned stop is called, and stop returns the
// highest sum seen.
func (m *headMemory) peak(extra []int) (stop func() int64) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var high int64
	wg.Go(func() {
		tick := time.NewTicker(rssSample)
		defer tick.Stop()
		for {
			high = max(high, m.rss(extra))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		return max(high, m.rss(extra))
	}
}

func (m *headMemory) namesTempDir(k procKey) bool {
	if named, ok := m.names[k]; ok {
		return named
	}
	raw, err := os.ReadFile("/proc/" + strconv.FormatInt(k.pid, 10) + "/cmdline")
	named := false
	for _, arg := range strings.Split(string(raw), "\x00") {
		if strings.HasPrefix(arg, "-") {
			_, arg, _ = strings.Cut(arg, "=") // --temp-dir=/tmp/x, --session-dir=/tmp/x/session_...
		}
		if arg == m.tempDir || strings.HasPrefix(arg, m.tempDir+"/") {
			named = true
			break
		}
	}
	if err == nil {
		m.names[k] = named
	}
	return named
}

// recordedGroup is the process group rayhead.sh wrote when it started the head (0: none).
func (m *headMemory) recordedGroup() int64 {
	raw, _ := os.ReadFile(filepath.Join(m.tempDir, "rayhead.pgid"))
	pgid, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	return pgid
}

// readProcs reads /proc/<pid>/stat of every process: parent, group, start time and RSS.
func readProcs() map[int64]procStat {
	entries, _ := os.ReadDir("/proc")
	out := make(map[int64]procStat, len(entries))
	for _, e := range entries {
		pid, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// The command name in parentheses may hold spaces and parentheses; the fields after the
		// last ") " are fixed: state, ppid, pgrp, ... starttime (22nd field), vsize, rss (24th, pages).
		s := string(raw)
		f := strings.Fields(s[strings.LastIndex(s, ") ")+2:])
		if len(f) < 22 {
			continue
		}
		ppid, _ := strconv.ParseInt(f[1], 10, 64)
		pgid, _ := strconv.ParseInt(f[2], 10, 64)
		start, _ := strconv.ParseInt(f[19], 10, 64)
		pages, _ := strconv.ParseInt(f[21], 10, 64)
		out[pid] = procStat{key: procKey{pid, start}, ppid: ppid, pgid: pgid, rss: pages * pageSize}
	}
	return out
}
