package main

import (
	"fmt"
	"net"
	"strconv"
)

// program is one process of the stack: a function's binary and where it listens.
type program struct {
	// name prefixes the program's output and names it in the table.
	name string
	// binary is the file name `go build -o DIR` gives the package.
	binary string
	pkg    string
	// offset from the base port: the combined router on the base port (8080), the four
	// functions on the next four (8081-8084), as docs/development.md lays them out.
	offset int
	// routes say, for the table, what the program answers.
	routes string
}

// programs are the processes of the stack, in the order the table lists them.
var programs = []program{
	{"combined", "combined", "./deploy/local/combined", 0,
		"POST /deliberations  GET /deliberations/{id}  GET /stats  GET /jobs"},
	{"execute", "execute-deliberation", "./functions/execute-deliberation", 1, "POST /"},
	statusFunction,
	{"stats", "get-stats", "./functions/get-stats", 3, "GET /"},
	{"jobs", "get-active-jobs", "./functions/get-active-jobs", 4, "GET /?limit=&cursor="},
}

// statusFunction is the program the Ray job calls back and the reconcile tick pings.
var statusFunction = program{"status", "get-deliberation-status", "./functions/get-deliberation-status", 2, "GET /{id}"}

// packages are the programs' packages, relative to the module root.
func packages() []string {
	pkgs := make([]string, len(programs))
	for i, p := range programs {
		pkgs[i] = p.pkg
	}
	return pkgs
}

func (p program) addr(basePort int) string {
	return "127.0.0.1:" + strconv.Itoa(basePort+p.offset)
}

func (p program) url(basePort int) string { return "http://" + p.addr(basePort) }

// checkPorts fails when a port of the stack is taken, naming it: a function that cannot listen
// would only exit, and another server answering its readiness probe would pass for it.
func checkPorts(basePort int) error {
	for _, p := range programs {
		l, err := net.Listen("tcp", p.addr(basePort))
		if err != nil {
			return fmt.Errorf("port of %s is taken (choose others with -base-port or STACK_BASE_PORT): %w", p.binary, err)
		}
		_ = l.Close()
	}
	return nil
}
