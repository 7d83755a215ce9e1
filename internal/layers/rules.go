package layers

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// ThirdParty is the name the layer table uses for modules other than this one.
const ThirdParty = "third-party"

// Layer is one row of the table: the packages it holds and the layers they may import.
type Layer struct {
	Name     string
	Patterns []string // module-relative: "shared/app", "deploy/...", "." for the root
	MayUse   []string // layer names, or ThirdParty
}

// Rules are the layers of a module, as docs/architecture.md writes them.
type Rules struct {
	Module string
	Layers []Layer
}

// ParseRules reads the Markdown table between the layers:begin and layers:end markers.
func ParseRules(module string, doc io.Reader) (Rules, error) {
	rules := Rules{Module: module}
	in := false
	sc := bufio.NewScanner(doc)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "<!-- layers:begin -->":
			in = true
		case line == "<!-- layers:end -->":
			in = false
		case in && strings.HasPrefix(line, "|") && !strings.HasPrefix(line, "|---") && !strings.HasPrefix(line, "| layer "):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			if len(cells) != 3 {
				return Rules{}, fmt.Errorf("layer row %q: want 3 cells, got %d", line, len(cells))
			}
			rules.Layers = append(rules.Layers, Layer{
				Name: strings.TrimSpace(cells[0]), Patterns: list(cells[1]), MayUse: list(cells[2]),
			})
		}
	}
	if err := sc.Err(); err != nil {
		return Rules{}, err
	}
	if len(rules.Layers) == 0 {
		return Rules{}, fmt.Errorf("no layer table between <!-- layers:begin --> and <!-- layers:end -->")
	}
	for _, l := range rules.Layers {
		for _, use := range l.MayUse {
			if use != ThirdParty && !slices.ContainsFunc(rules.Layers, func(o Layer) bool { return o.Name == use }) {
				return Rules{}, fmt.Errorf("layer %q may use %q, which is no layer", l.Name, use)
			}
		}
	}
	return rules, nil
}

// list splits a cell such as "`shared/app`, `shared/rayjobs`" or "domain, use cases".
func list(cell string) []string {
	var out []string
	for _, item := range strings.Split(cell, ",") {
		if item = strings.Trim(strings.TrimSpace(item), "`"); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// LayerOf names the layer of an import path of the module: the row with the longest matching
// pattern. It answers "" for a path no row holds.
func (r Rules) LayerOf(path string) string {
	rel, ok := r.relative(path)
	if !ok {
		return ""
	}
	best, bestLen := "", -1
	for _, l := range r.Layers {
		for _, p := range l.Patterns {
			if n := matchLen(p, rel); n > bestLen {
				best, bestLen = l.Name, n
			}
		}
	}
	return best
}

// relative turns an import path of the module into the table's form ("." for the root).
func (r Rules) relative(path string) (string, bool) {
	if path == r.Module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(path, r.Module+"/")
	return rel, ok
}

// matchLen is how specific pattern p is for rel, or -1 when it does not match.
func matchLen(p, rel string) int {
	if tree, ok := strings.CutSuffix(p, "/..."); ok {
		if rel == tree || strings.HasPrefix(rel, tree+"/") {
			return len(tree)
		}
		return -1
	}
	if p == rel {
		return len(p) + 1 // an exact row beats a tree of the same path
	}
	return -1
}

func (r Rules) mayUse(from, to string) bool {
	for _, l := range r.Layers {
		if l.Name == from {
			return slices.Contains(l.MayUse, to)
		}
	}
	return false
}
