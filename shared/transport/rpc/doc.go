// Package rpc is the RPC surface of a function: the replaced service's contract,
// fleet.ray_executor.v1.RayExecutorService, served through connect-go in gRPC, gRPC-Web and
// Connect, with gRPC health and server reflection, on the use cases of the function's catalogue
// entry. Its errors carry the rich details generated clients read (docs/grpc.md). It shares the
// error table and the idempotency rule with the JSON routes (package transport) and never imports
// them (package httpapi), which mounts it beside them on one port.
package rpc
