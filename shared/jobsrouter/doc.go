// Package jobsrouter is the jobs dispatch's app.RayCluster over several Ray clusters: each attempt
// goes to one cluster, chosen among those that serve its pool, are not draining and whose breaker
// is not open, by the fewest outstanding attempts per unit of capacity. The placement of every
// attempt and each cluster's outstanding attempts live in Redis, updated together by one script,
// so every function replica sees the same load and sends an attempt's later calls (status,
// result, stop, delete) to the cluster that holds it. docs/ray.md, "The jobs router".
package jobsrouter
