package layers

import (
	"fmt"
	"strings"
)

// toolsLayer is the table's row for deploy/: tests outside it must not import it either.
const toolsLayer = "tools"

// Package is what `go list -json` says of one package's imports.
type Package struct {
	ImportPath   string
	Name         string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// Check lists every import of pkgs that goes against the rules. Production imports must follow
// the table. Tests may also use test support and other adapters, but never the root package and,
// outside the tools, never deploy/.
func (r Rules) Check(pkgs []Package) []string {
	var bad []string
	for _, p := range pkgs {
		from := r.LayerOf(p.ImportPath)
		if from == "" {
			bad = append(bad, fmt.Sprintf("%s is in no layer of the table", p.ImportPath))
			continue
		}
		for _, imp := range p.Imports {
			if to := r.kindOf(imp); to != "" && !r.mayUse(from, to) {
				bad = append(bad, fmt.Sprintf("%s (%s) imports %s (%s)", p.ImportPath, from, imp, to))
			}
		}
		for _, imp := range append(append([]string{}, p.TestImports...), p.XTestImports...) {
			if imp == p.ImportPath {
				continue
			}
			if imp == r.Module || (r.LayerOf(imp) == toolsLayer && from != toolsLayer) {
				bad = append(bad, fmt.Sprintf("a test of %s (%s) imports %s (%s)", p.ImportPath, from, imp, r.kindOf(imp)))
			}
		}
	}
	return bad
}

// kindOf is the layer of an import, ThirdParty for another module, or "" for the standard library
// (whose first path element has no dot) and cgo's "C".
func (r Rules) kindOf(imp string) string {
	if _, ok := r.relative(imp); ok {
		if l := r.LayerOf(imp); l != "" {
			return l
		}
		return "no layer"
	}
	first, _, _ := strings.Cut(imp, "/")
	if imp == "C" || !strings.Contains(first, ".") {
		return ""
	}
	return ThirdParty
}
