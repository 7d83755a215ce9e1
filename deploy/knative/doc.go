// Package knative holds the Knative manifests of the Ray executor functions (a Service per
// function, the Broker with its Triggers, the PingSource, settings and Redis) and the tests that
// validate them offline with Knative's own API types, since no cluster is at hand to reject a bad
// manifest. It has no code of its own: the YAML files beside this one are the product.
package knative
