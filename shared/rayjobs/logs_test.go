package rayjobs

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeLogsTail(t *testing.T) {
	t.Parallel()
	logs := "first line\nsecond \"quoted\" line with a \\n literal\n" + `RAY_EXECUTOR_RESULT v1 {"a":"x\ny"}` + "\nlast é line\n"
	body, err := json.Marshal(map[string]string{"logs": logs})
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut <= len(body)-len(`"}`); cut++ {
		got, err := decodeLogsTail(body[cut:])
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if !strings.HasSuffix(logs, got) {
			t.Fatalf("cut at %d: %q is not an end of the logs", cut, got)
		}
		if got != "" && !strings.HasSuffix(logs[:len(logs)-len(got)], "\n") {
			t.Fatalf("cut at %d: %q does not start a line", cut, got)
		}
	}
	if _, err := decodeLogsTail([]byte(`"logs": "abc`)); err == nil {
		t.Fatal("a tail that does not end the logs string was accepted")
	}
}

func TestDecodeLogsTailSkipsEscapedBackslashN(t *testing.T) {
	t.Parallel()
	// `\\n` in the JSON is a backslash and an n in the logs, not a line break.
	got, err := decodeLogsTail([]byte(`x\\nnot a line\nline two"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got != "line two" {
		t.Fatalf("got %q", got)
	}
}

func FuzzDecodeLogsTail(f *testing.F) {
	f.Add([]byte(`abc\ndef"}`))
	f.Add([]byte(`\\\n\u00e9\n"}`))
	f.Fuzz(func(t *testing.T, tail []byte) {
		got, err := decodeLogsTail(tail)
		if err == nil && strings.ContainsRune(got, '\x00') && !strings.Contains(string(tail), `\u0000`) {
			t.Fatalf("decoded a NUL that was not in the input: %q", got)
		}
	})
}
