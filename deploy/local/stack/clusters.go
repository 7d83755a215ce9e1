package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rayexecutor/functions/shared/config"
)

// The defaults rayhead.sh uses for a head, which the launcher's further heads count on from.
const (
	defaultHeadPort      = 6380
	defaultDashboardPort = 8265
)

// localCluster is one local Ray head the launcher started for RUN_RAY_CLUSTERS.
type localCluster struct {
	name string // ray-1, ray-2, ... (docs/development.md)
	url  string // its dashboard: Jobs API and Serve deploys
}

// clusterName is the name of the i-th local head (from 0), as the functions, the runner and the
// tests call it.
func clusterName(i int) string { return "ray-" + strconv.Itoa(i+1) }

// clusterHeadEnv is the environment rayhead.sh gets for the i-th head (from 0): RAY_HEAD_PORT and
// RAY_DASHBOARD_PORT plus i, RAY_HEAD_TEMP_DIR (when set) with -<i+1> after it; rayhead.sh derives
// the head's block of other ports from its GCS port, so the heads share no port.
func clusterHeadEnv(environ []string, i int) ([]string, error) {
	port := func(name string, def int) (string, error) {
		p := def
		if v := lookup(environ, name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return "", fmt.Errorf("%s must be a port number, got %q", name, v)
			}
			p = n
		}
		return strconv.Itoa(p + i), nil
	}
	head, err := port("RAY_HEAD_PORT", defaultHeadPort)
	if err != nil {
		return nil, err
	}
	dashboard, err := port("RAY_DASHBOARD_PORT", defaultDashboardPort)
	if err != nil {
		return nil, err
	}
	env := append(environ[:len(environ):len(environ)], "RAY_HEAD_PORT="+head, "RAY_DASHBOARD_PORT="+dashboard)
	if dir := lookup(environ, "RAY_HEAD_TEMP_DIR"); dir != "" && i > 0 {
		env = append(env, "RAY_HEAD_TEMP_DIR="+dir+"-"+strconv.Itoa(i+1))
	}
	return env, nil
}

// startClusters starts n local heads one after the other (two starting at once on a small machine
// only slow each other down) and returns them named.
func (s *stack) startClusters(ctx context.Context, opts options, environ []string) ([]localCluster, error) {
	if lookup(environ, "RAY_ADDRESS") != "" || lookup(environ, "RAY_CLUSTERS") != "" || lookup(environ, "RAY_CLUSTERS_FILE") != "" {
		return nil, errors.New("RUN_RAY_CLUSTERS starts local heads: unset RAY_ADDRESS, RAY_CLUSTERS and RAY_CLUSTERS_FILE")
	}
	if lookup(environ, "RAY_PORT_BASE") != "" {
		return nil, errors.New("RUN_RAY_CLUSTERS gives every head a port block of its own: unset RAY_PORT_BASE")
	}
	clusters := make([]localCluster, opts.clusters)
	for i := range clusters {
		env, err := clusterHeadEnv(environ, i)
		if err != nil {
			return nil, err
		}
		clusters[i].name = clusterName(i)
		if clusters[i].url, err = s.startRay(ctx, s.newRayHead(opts.root, env), "ray head "+clusters[i].name); err != nil {
			return nil, fmt.Errorf("%s: %w", clusters[i].name, err)
		}
	}
	return clusters, nil
}

// clustersSetting is the functions' list of clusters (the JSON of RAY_CLUSTERS, written to their
// RAY_CLUSTERS_FILE): the local heads by name and address.
func clustersSetting(clusters []localCluster) string {
	list := make([]config.RayCluster, len(clusters))
	for i, c := range clusters {
		list[i] = config.RayCluster{Name: c.name, Address: c.url}
	}
	raw, _ := json.Marshal(list) // plain strings: cannot fail
	return string(raw)
}

// writeClustersFile writes clustersSetting into a file of its own for the functions'
// RAY_CLUSTERS_FILE, removed when the stack stops. It is the local stand-in for a mounted
// ConfigMap: set "draining": true on a cluster there and send the launcher SIGHUP, and the
// restarted functions tell that cluster's runner to take nothing new.
func (s *stack) writeClustersFile(clusters []localCluster) (string, error) {
	dir, err := os.MkdirTemp("", "stack-clusters-")
	if err != nil {
		return "", err
	}
	s.onStop("the clusters file", func() { _ = os.RemoveAll(dir) })
	file := filepath.Join(dir, "clusters.json")
	if err := os.WriteFile(file, []byte(clustersSetting(clusters)+"\n"), 0o600); err != nil {
		return "", err
	}
	return file, nil
}
