package deliberation

import "testing"

func TestShortenCutsOnARuneBoundary(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc..."},
		{"aé", 2, "a..."},          // é is two bytes: cutting at 2 would split it
		{"日本語", 4, "日..."},         // 3-byte runes: back off to the boundary at 3
		{"\xff\xfe", 1, "\xff..."}, // invalid input is cut, not looped on
	}
	for _, c := range cases {
		if got := Shorten(c.in, c.max); got != c.want {
			t.Errorf("Shorten(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}
