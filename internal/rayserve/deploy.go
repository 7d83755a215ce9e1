package rayserve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rayexecutor/functions/shared/rayjobs"
)

// Client talks to the Serve REST API of a Ray dashboard; the runner's package goes up through the
// Jobs client of the same dashboard, which owns Ray's package endpoints.
type Client struct {
	address string
	http    *http.Client
	jobs    *rayjobs.Client
}

// NewClient returns a client of the dashboard at address (http://host:port); timeout bounds
// each call.
func NewClient(address string, timeout time.Duration) (*Client, error) {
	jobs, err := rayjobs.NewClient(rayjobs.ClientConfig{Address: address, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	return &Client{address: strings.TrimSuffix(address, "/"), http: &http.Client{Timeout: timeout}, jobs: jobs}, nil
}

// applicationsPath is Serve's declarative endpoint; like the Jobs API, it routes only WITH the
// trailing slash.
const applicationsPath = "/api/serve/applications/"

func (c *Client) call(ctx context.Context, method string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.address+applicationsPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("serve %s: %w", method, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("serve %s: %w", method, err)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("serve %s: HTTP %d: %.300s", method, res.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// Deploy puts a declarative Serve config on the cluster. Serve converges to it: it replaces every
// application the cluster runs with those of config.
func (c *Client) Deploy(ctx context.Context, config []byte) error {
	return c.call(ctx, http.MethodPut, config, nil)
}

// Status is what Serve says of one application: RUNNING once its replicas are up.
type Status struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// Applications returns the status of every Serve application on the cluster.
func (c *Client) Applications(ctx context.Context) (map[string]Status, error) {
	var out struct {
		Applications map[string]Status `json:"applications"`
	}
	err := c.call(ctx, http.MethodGet, nil, &out)
	return out.Applications, err
}

// DeleteAll shuts down every Serve application on the cluster.
func (c *Client) DeleteAll(ctx context.Context) error {
	return c.call(ctx, http.MethodDelete, nil, nil)
}

// DeployRunner uploads the runner's package (name, zip) when the cluster lacks it, deploys the
// application on it, and waits until Serve reports it RUNNING.
func (c *Client) DeployRunner(ctx context.Context, a RunnerApplication, pkgName string, pkgZip []byte, within time.Duration) error {
	if pkgName != "" {
		exists, err := c.jobs.PackageExists(ctx, pkgName)
		if err == nil && !exists {
			err = c.jobs.UploadPackage(ctx, pkgName, pkgZip)
		}
		if err != nil {
			return fmt.Errorf("runner package: %w", err)
		}
		a.WorkingDir = "gcs://" + pkgName
	}
	config, err := a.Config()
	if err != nil {
		return err
	}
	if err := c.Deploy(ctx, config); err != nil {
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
