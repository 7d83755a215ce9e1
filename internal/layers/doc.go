// Package layers keeps the module's imports flowing the way docs/architecture.md draws them: its
// test reads the layer table of that page and the import graph from `go list`, and fails on any
// import against the table, and on any package under shared/ that no function imports (reach.go).
// It holds no code the functions use.
package layers
