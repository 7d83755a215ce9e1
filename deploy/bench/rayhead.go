package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rayexecutor/functions/internal/launcher"
)

// The bench's Ray head, unless RAY_HEAD_PORT, RAY_DASHBOARD_PORT and RAY_HEAD_TEMP_DIR say
// otherwise: ports and a temp dir no other head of the project uses (make run's is 6380/8265, the
// tests' 6381-6383, the fault suite's 6384), so the bench never measures, or stops, someone
// else's head. The fault suite's second head (FAULTS_CLUSTERS=2) is on 6385/8270 too, in
// /tmp/rxfault2: run the two one after the other, or move the bench's. The clusters scenario's
// second head takes the next ports (6386/8271, /tmp/rxbench2).
var headDefaults = map[string]string{"RAY_HEAD_PORT": "6385", "RAY_DASHBOARD_PORT": "8270", "RAY_HEAD_TEMP_DIR": "/tmp/rxbench"}

// rayHead is a local Ray head the bench starts with deploy/local/rayhead.sh, as make run and the
// tests do, and stops at the end.
type rayHead struct {
	script  string
	env     []string
	tempDir string
	// gcs is the head's GCS address (a driver's ray.init), address its dashboard (Jobs and Serve
	// REST APIs).
	gcs, address string
	log          *tail
}

// rayScriptGrace is how long rayhead.sh may take to stop after SIGTERM when ctx ends first.
const rayScriptGrace = 10 * time.Second

// startRayHead starts the head and returns once its Jobs API answers. A head already running in
// the temp dir is refused: it is someone's, with load and memory of its own.
func startRayHead(ctx context.Context, log *slog.Logger) (*rayHead, error) {
	return startRayHeadNumber(ctx, log, 0)
}

// startRayHeadNumber starts the bench's i-th head (from 0; the clusters scenario has two): its GCS
// and dashboard ports are the first head's plus i, its temp dir the first's with i+1 after it.
func startRayHeadNumber(ctx context.Context, log *slog.Logger, i int) (*rayHead, error) {
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for k, def := range headDefaults {
		if vars[k] = os.Getenv(k); vars[k] == "" {
			vars[k] = def
		}
	}
	if i > 0 {
		for _, k := range []string{"RAY_HEAD_PORT", "RAY_DASHBOARD_PORT"} {
			p, err := strconv.Atoi(vars[k])
			if err != nil {
				return nil, fmt.Errorf("%s must be a port number, got %q", k, vars[k])
			}
			vars[k] = strconv.Itoa(p + i)
		}
		vars["RAY_HEAD_TEMP_DIR"] += strconv.Itoa(i + 1)
	}
	h := &rayHead{script: filepath.Join(root, "deploy", "local", "rayhead.sh"), env: launcher.Env(os.Environ(), vars),
		tempDir: vars["RAY_HEAD_TEMP_DIR"], gcs: "127.0.0.1:" + vars["RAY_HEAD_PORT"], log: &tail{}}
	if _, err := os.Stat(filepath.Join(root, ".venv", "bin", "ray")); err != nil {
		return nil, fmt.Errorf("the dispatch scenario needs the project's Ray (make venv): %w", err)
	}
	if _, err := h.run(ctx, "status"); err == nil {
		return nil, fmt.Errorf("a Ray head already runs in %s: stop it (RAY_HEAD_TEMP_DIR=%s deploy/local/rayhead.sh stop) or set RAY_HEAD_PORT, RAY_DASHBOARD_PORT and RAY_HEAD_TEMP_DIR to another head's", h.tempDir, h.tempDir)
	}
	log.Info("starting the bench's Ray head", "gcs", h.gcs, "temp_dir", h.tempDir)
	start := time.Now()
	out, err := h.run(ctx, "start")
	if err != nil {
		h.stop(log) // a half-started head
		return nil, err
	}
	lines := strings.Split(out, "\n")
	h.address = lines[len(lines)-1]
	log.Info("Ray head up", "address", h.address, "took", time.Since(start).Round(time.Millisecond).String())
	return h, nil
}

// stop ends every process of the head, also when the bench's context has ended.
func (h *rayHead) stop(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := h.run(ctx, "stop"); err != nil {
		log.Error("Ray head not stopped", "temp_dir", h.tempDir, "error", err.Error())
	} else {
		log.Info(out)
	}
}

// run runs rayhead.sh with one command and returns what it printed on stdout.
func (h *rayHead) run(ctx context.Context, command string) (string, error) {
	var stdout bytes.Buffer
	err := launcher.Run(ctx, launcher.Command{Path: h.script, Args: []string{command}, Env: h.env,
		Stdout: &stdout, Stderr: h.log, Group: true}, rayScriptGrace)
	if err != nil {
		return "", fmt.Errorf("rayhead.sh %s: %w:\n%s", command, err, h.log)
	}
	return strings.TrimSpace(stdout.String()), nil
}
