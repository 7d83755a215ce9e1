package config

import "strings"

// Problem is one invalid variable.
type Problem struct {
	Variable string
	Message  string
}

func (p Problem) String() string { return p.Variable + ": " + p.Message }

// Error lists every invalid variable in the order of Variables, missing required ones last.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return "invalid configuration:\n  " + strings.Join(lines, "\n  ")
}

func (e *Error) add(variable, message string) {
	e.Problems = append(e.Problems, Problem{Variable: variable, Message: message})
}

func (e *Error) has(variable string) bool {
	for _, p := range e.Problems {
		if p.Variable == variable {
			return true
		}
	}
	return false
}
