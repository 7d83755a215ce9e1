package layers

import (
	"fmt"
	"slices"
	"strings"
)

// Unserved lists the packages under dir (module-relative, such as "shared") that no function
// imports, directly or through other packages: a function is the root package or a main package
// under functions/. Only production imports count, so a package that only tests or tools use is
// reported: it belongs under internal/ or deploy/, not among the product's rooms.
func (r Rules) Unserved(pkgs []Package, dir string) []string {
	byPath := make(map[string]Package, len(pkgs))
	var todo []string
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
		if rel, ok := r.relative(p.ImportPath); ok && (rel == "." || p.Name == "main" && strings.HasPrefix(rel, "functions/")) {
			todo = append(todo, p.ImportPath)
		}
	}
	seen := map[string]bool{}
	for len(todo) > 0 {
		path := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[path] {
			continue
		}
		seen[path] = true
		todo = append(todo, byPath[path].Imports...)
	}
	var bad []string
	for _, p := range pkgs {
		if rel, ok := r.relative(p.ImportPath); ok && strings.HasPrefix(rel, dir+"/") && !seen[p.ImportPath] {
			bad = append(bad, fmt.Sprintf("%s is imported by no function (only by tests or tools?)", p.ImportPath))
		}
	}
	slices.Sort(bad)
	return bad
}
