package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// proc identifies one process across time: a pid with its start time, so a pid the kernel hands
// to another process later is not mistaken for the one recorded.
type proc struct {
	pid   int
	start string
	cmd   string
}

// stat reads a process's parent, state and start time from /proc; ok is false when it is gone.
func stat(pid int) (ppid int, state, start string, ok bool) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, "", "", false
	}
	// The command name (field 2) may hold spaces and parentheses; the fields after its last ')'
	// are plain: state, ppid, ... starttime is field 22 of the line, 20 after the name.
	rest := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(rest) < 20 {
		return 0, "", "", false
	}
	ppid, _ = strconv.Atoi(rest[1])
	return ppid, rest[0], rest[19], true
}

func cmdline(pid int) string {
	raw, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	return strings.TrimSpace(string(bytes.ReplaceAll(raw, []byte{0}, []byte{' '})))
}

// allPids lists the processes of the machine.
func allPids(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// descendants lists every live process below pid.
func descendants(t *testing.T, pid int) []proc {
	t.Helper()
	children := map[int][]proc{}
	for _, p := range allPids(t) {
		if ppid, state, start, ok := stat(p); ok && state != "Z" {
			children[ppid] = append(children[ppid], proc{p, start, cmdline(p)})
		}
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
	}
	return out
}

// naming lists every live process with an argument under dir (a Ray head's temp dir names each
// of its processes, as rayhead.sh relies on too).
func naming(t *testing.T, dir string) []proc {
	t.Helper()
	var out []proc
	for _, p := range allPids(t) {
		if _, state, start, ok := stat(p); ok && state != "Z" && p != os.Getpid() {
			if cmd := cmdline(p); strings.Contains(cmd, dir) {
				out = append(out, proc{p, start, cmd})
			}
		}
	}
	return out
}

// alive reports whether the recorded process still runs; a zombie has ended, it only waits for
// a parent to collect its status.
func (p proc) alive() bool {
	_, state, start, ok := stat(p.pid)
	return ok && start == p.start && state != "Z"
}
