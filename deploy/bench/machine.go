package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// machine is what the numbers were measured on: docs/performance.md asks for the machine to be
// stated.
type machine struct {
	CPU, Cores, OS, Go, Redis string
}

func describeMachine() machine {
	m := machine{CPU: "unknown", Cores: strconv.Itoa(runtime.NumCPU()), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if name, value, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPU = strings.TrimSpace(value)
				break
			}
		}
	}
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		for _, field := range strings.Fields(string(out)) {
			if v, ok := strings.CutPrefix(field, "v="); ok {
				m.Redis = "redis-server " + v
			}
		}
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load averages: other work on a shared machine skews tail
// latency, so the table says how busy the machine was.
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
