package rayserve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Client talks to a Ray dashboard: Serve's declarative endpoint, and the package store the
// runner's working_dir is uploaded to.
type Client struct {
	address string
	token   string
	http    *http.Client
}

// NewClient returns a client of the dashboard at address (http://host:port); authToken, when
// set, goes with every call as a bearer token (RAY_AUTH_TOKEN); timeout bounds each call.
func NewClient(address, authToken string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(address)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("ray dashboard address %q: want http(s)://host:port", address)
	}
	if strings.ContainsAny(authToken, "\r\n") {
		return nil, errors.New("ray auth token: contains a line break")
	}
	return &Client{address: strings.TrimSuffix(address, "/"), token: authToken, http: &http.Client{Timeout: timeout, Transport: tracedTransport()}}, nil
}

// applicationsPath is Serve's declarative endpoint; like the Jobs API, it routes only WITH the
// trailing slash.
const applicationsPath = "/api/serve/applications/"

// errNotFound is a 404: for a package, the cluster lacks it.
var errNotFound = errors.New("not found")

func (c *Client) call(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.address+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("ray %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("ray %s %s: %w", method, path, err)
	}
	if res.StatusCode == http.StatusNotFound {
		return fmt.Errorf("ray %s %s: %w", method, path, errNotFound)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("ray %s %s: HTTP %d: %.300s", method, path, res.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Deploy puts a declarative Serve config on the cluster. Serve converges to it: it replaces every
// application the cluster runs with those of config. The same config again changes nothing.
func (c *Client) Deploy(ctx context.Context, config []byte) error {
	return c.call(ctx, http.MethodPut, applicationsPath, "application/json", config, nil)
}

// Status is what Serve says of one application: RUNNING once its replicas are up, and the
// config it was deployed with.
type Status struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	// Config is the application's part of the Serve config deployed (serveAppConfig's fields).
	Config json.RawMessage `json:"deployed_app_config"`
	// Deployments are the application's deployments by name (the runner has one).
	Deployments map[string]DeploymentStatus `json:"deployments"`
}

// DeploymentStatus is what Serve says of one deployment: the replicas it aims at (the
// autoscaler's decision, within the bounds) and those it has.
type DeploymentStatus struct {
	Status            string `json:"status"`
	TargetNumReplicas int    `json:"target_num_replicas"`
	Replicas          []struct {
		State string `json:"state"`
	} `json:"replicas"`
}

// Running counts the replicas in the RUNNING state.
func (d DeploymentStatus) Running() int {
	n := 0
	for _, r := range d.Replicas {
		if r.State == "RUNNING" {
			n++
		}
	}
	return n
}

// Applications returns the status of every Serve application on the cluster.
func (c *Client) Applications(ctx context.Context) (map[string]Status, error) {
	var out struct {
		Applications map[string]Status `json:"applications"`
	}
	err := c.call(ctx, http.MethodGet, applicationsPath, "", nil, &out)
	return out.Applications, err
}

// DeleteAll shuts down every Serve application on the cluster.
func (c *Client) DeleteAll(ctx context.Context) error {
	return c.call(ctx, http.MethodDelete, applicationsPath, "", nil, nil)
}

// UploadPackage stores zip in the cluster's GCS as gcs://<name> unless it is there already: the
// name is content-addressed, so an existing one holds the same bytes.
func (c *Client) UploadPackage(ctx context.Context, name string, zip []byte) error {
	path := "/api/packages/gcs/" + url.PathEscape(name)
	err := c.call(ctx, http.MethodGet, path, "", nil, nil)
	if errors.Is(err, errNotFound) {
		err = c.call(ctx, http.MethodPut, path, "application/octet-stream", zip, nil)
	}
	if err != nil {
		return fmt.Errorf("runner package %s: %w", name, err)
	}
	return nil
}

// DeployRunner uploads the runner's package (name, zip) when the cluster lacks it, deploys the
// application on it, and waits until Serve reports it RUNNING.
func (c *Client) DeployRunner(ctx context.Context, a RunnerApplication, pkgName string, pkgZip []byte, within time.Duration) error {
	if err := c.PutRunner(ctx, a, pkgName, pkgZip); err != nil {
		return err
	}
	name := a.name()
	deadline := time.Now().Add(within)
	for {
		apps, err := c.Applications(ctx)
		st := apps[name]
		switch {
		case err == nil && st.Status == "RUNNING":
			return nil
		case err == nil && st.Status == "DEPLOY_FAILED":
			return fmt.Errorf("serve could not deploy %s: %s", name, st.Message)
		case time.Now().After(deadline):
			return errors.Join(fmt.Errorf("serve did not run %s within %s (status %q %s)", name, within, st.Status, st.Message), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// PutRunner uploads the runner's package (name, zip) when the cluster lacks it and puts the
// application on it, without waiting for Serve to run it.
func (c *Client) PutRunner(ctx context.Context, a RunnerApplication, pkgName string, pkgZip []byte) error {
	if pkgName != "" {
		if err := c.UploadPackage(ctx, pkgName, pkgZip); err != nil {
			return err
		}
		a.WorkingDir = "gcs://" + pkgName
	}
	config, err := a.Config()
	if err != nil {
		return err
	}
	return c.Deploy(ctx, config)
}

// tracedTransport makes a client span of every dashboard call made under a span, and sends
// traceparent; the deploy at start runs under none, so it makes no lone root spans. otelhttp's
// metrics stay off: the functions export Prometheus.
func tracedTransport() http.RoundTripper {
	return otelhttp.NewTransport(http.DefaultTransport, otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool { return trace.SpanContextFromContext(r.Context()).IsValid() }),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "ray dashboard " + r.Method }))
}
