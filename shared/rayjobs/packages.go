package rayjobs

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// maxPackageName bounds a package name such as _ray_pkg_<hash>.zip.
const maxPackageName = 200

// PackageExists reports whether Ray's GCS holds the package gcs://<name>. The check also pins the
// package for a while (10 minutes by default), so a job submitted right after finds it even though
// Ray garbage-collects packages no job references.
func (c *Client) PackageExists(ctx context.Context, name string) (bool, error) {
	const op = "package check"
	if err := checkPackageName(op, name); err != nil {
		return false, err
	}
	_, err := c.do(ctx, request{op: op, method: http.MethodGet, path: packagePath(name),
		idempotent: true, maxBody: maxJobBody})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// UploadPackage stores zip in Ray's GCS as gcs://<name>. Uploading the same content again is
// harmless, so it is retried like a GET.
func (c *Client) UploadPackage(ctx context.Context, name string, zip []byte) error {
	const op = "package upload"
	if err := checkPackageName(op, name); err != nil {
		return err
	}
	_, err := c.do(ctx, request{op: op, method: http.MethodPut, path: packagePath(name), body: zip,
		contentType: "application/octet-stream", idempotent: true, transfer: true, maxBody: maxJobBody})
	return err
}

func packagePath(name string) string { return "/api/packages/gcs/" + url.PathEscape(name) }

func checkPackageName(op, name string) error {
	if !safeName(name, maxPackageName) {
		return &Error{Op: op, kind: ErrInvalidArgument, Detail: "a package name must be 1-200 characters of [A-Za-z0-9._:-]"}
	}
	return nil
}
