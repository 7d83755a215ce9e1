package main

import (
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
}

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
	if err := fs.Parse(args); err != nil {
		return o, err
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
