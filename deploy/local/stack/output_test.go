package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestLineWriterPrefixesWholeLines(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		writes []string
		want   string
	}{
		"one line":             {[]string{"ready\n"}, "execute  | ready\n"},
		"split across writes":  {[]string{"rea", "dy\nst", "opping\n"}, "execute  | ready\nexecute  | stopping\n"},
		"unfinished last line": {[]string{"ready\nno newline"}, "execute  | ready\nexecute  | no newline\n"},
		"overlong unfinished line": {[]string{strings.Repeat("x", maxLine+1), "\n"},
			"execute  | " + strings.Repeat("x", maxLine) + "\nexecute  | x\n"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var dst bytes.Buffer
			w := (&output{}).writer("execute", &dst)
			for _, s := range tc.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.flush()
			if got := dst.String(); got != tc.want {
				t.Errorf("forwarded %q, want %q", abbreviated(got), abbreviated(tc.want))
			}
		})
	}
}

// abbreviated keeps a failure message readable when the strings are long lines.
func abbreviated(s string) string {
	if len(s) > 80 {
		return s[:40] + "..." + s[len(s)-40:]
	}
	return s
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	o, err := parseOptions([]string{"-root", "/repo"}, env(map[string]string{"STACK_BASE_PORT": "9080", "STACK_BIN_DIR": "/bin"}), &bytes.Buffer{})
	if err != nil || o.basePort != 9080 || o.binDir != "/bin" || o.root != "/repo" {
		t.Fatalf("parseOptions = %+v, %v", o, err)
	}
	if o, err := parseOptions([]string{"-root", "/repo", "-base-port", "7080"}, env(map[string]string{"STACK_BASE_PORT": "9080"}), &bytes.Buffer{}); err != nil || o.basePort != 7080 {
		t.Errorf("the flag must win over STACK_BASE_PORT: %+v, %v", o, err)
	}
	for name, args := range map[string][]string{
		"port too high":  {"-base-port", "65533"},
		"port zero":      {"-base-port", "0"},
		"negative grace": {"-grace", "-1s"},
		"stray argument": {"run"},
		"unknown flag":   {"-verbose"},
		"not a port":     {"-base-port", "http"},
	} {
		if _, err := parseOptions(append([]string{"-root", "/repo"}, args...), env(nil), &bytes.Buffer{}); err == nil {
			t.Errorf("%s: %q accepted", name, args)
		}
	}
	if _, err := parseOptions([]string{"-root", "/repo"}, env(map[string]string{"STACK_BASE_PORT": "80a"}), &bytes.Buffer{}); err == nil {
		t.Error("STACK_BASE_PORT=80a accepted")
	}
}
