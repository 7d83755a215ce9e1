// Package rayserve is the deliberation runner's Serve application on a Ray cluster, through the
// dashboard's REST API: the Serve config it is deployed with (config.go), a client of Serve's
// declarative endpoint and of Ray's package store (client.go), and the decision whether a
// function should deploy it (ensure.go). The functions of the serve dispatch use it to put the
// runner they embed on a plain RayCluster; `make run`, the bench and the tests use it on their
// own heads.
package rayserve
