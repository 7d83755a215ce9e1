package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// options are the launcher's own settings; the functions' settings are docs/configuration.md's
// variables, read by config.Load.
type options struct {
	// root is the module root: where the functions are built and deploy/local/rayhead.sh lives.
	root string
	// binDir holds prebuilt binaries (named as `go build -o DIR` names them); empty builds them.
	binDir string
	// basePort is the combined router's port; the four functions listen on the next four.
	basePort int
	// grace is how long a function may take to stop after SIGTERM before it is killed.
	grace time.Duration
	// clusters is how many local Ray heads to start (RUN_RAY_CLUSTERS): above one they are named
	// ray-1, ray-2, ... and the functions get them as RAY_CLUSTERS.
	clusters int
	// runnerArgs are merged into the runner's Serve args on every head (RUN_RUNNER_ARGS, a JSON
	// object): e.g. a short claim_idle_s for a failover test.
	runnerArgs map[string]any
}

// maxLocalClusters bounds RUN_RAY_CLUSTERS: every head takes two CPUs' worth of processes.
const maxLocalClusters = 4

// parseOptions reads the flags; STACK_BASE_PORT and STACK_BIN_DIR are their defaults, so that
// `STACK_BASE_PORT=9080 make run` works without passing flags through make.
func parseOptions(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("stack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	basePort := 8080
	if v := getenv("STACK_BASE_PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return o, fmt.Errorf("STACK_BASE_PORT must be a port number, got %q", v)
		}
		basePort = p
	}
	fs.IntVar(&o.basePort, "base-port", basePort, "port of the combined router; the functions listen on the next four (env STACK_BASE_PORT)")
	fs.StringVar(&o.binDir, "bin-dir", getenv("STACK_BIN_DIR"), "directory of prebuilt binaries instead of building them (env STACK_BIN_DIR)")
	fs.StringVar(&o.root, "root", "", "module root (default: the directory above the working directory that holds go.mod)")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "how long a function may take to stop before it is killed")
	clusters := 1
	if v := getenv("RUN_RAY_CLUSTERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLocalClusters {
			return o, fmt.Errorf("RUN_RAY_CLUSTERS must be a number from 1 to %d, got %q", maxLocalClusters, v)
		}
		clusters = n
	}
	fs.IntVar(&o.clusters, "ray-clusters", clusters, "local Ray heads to start, named ray-1, ray-2, ... when more than one (env RUN_RAY_CLUSTERS)")
	if v := getenv("RUN_RUNNER_ARGS"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.runnerArgs); err != nil || o.runnerArgs == nil {
			return o, fmt.Errorf("RUN_RUNNER_ARGS must be a JSON object of the runner's Serve args, got %q", v)
		}
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.clusters < 1 || o.clusters > maxLocalClusters {
		return o, fmt.Errorf("-ray-clusters must be from 1 to %d, got %d", maxLocalClusters, o.clusters)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.basePort < 1 || o.basePort+len(programs)-1 > 65535 {
		return o, fmt.Errorf("base port %d leaves no room for %d ports", o.basePort, len(programs))
	}
	if o.grace <= 0 {
		return o, errors.New("-grace must be positive")
	}
	if o.root == "" {
		root, err := moduleRoot()
		if err != nil {
			return o, err
		}
		o.root = root
	}
	return o, nil
}

// moduleRoot finds the module from the working directory up, as the go command does.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository or pass -root")
		}
		dir = parent
	}
}
