package slots

import "testing"

// TestKeySlot checks the slot computation against values Redis answers to CLUSTER KEYSLOT.
func TestKeySlot(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]int{"foo": 12182, "123456789": 12739, "{user1000}.following": 3443,
		"user1000": 3443, "foo{}{bar}": 8363, "foo{{bar}}zap": 4015, "{}": 15257} {
		if got := Of(key); got != want {
			t.Errorf("Of(%q) = %d, want %d", key, got, want)
		}
	}
}
