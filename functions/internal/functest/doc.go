// Package functest runs the functions as their users do, for black-box tests: it builds a
// function's binary, starts it on 127.0.0.1 with a free port next to a real redis-server and the
// in-process fake of Ray's Jobs API, and talks HTTP to it.
package functest
