package callers

import (
	"context"
	"crypto/sha256"
	"testing"
)

// TestOwns: a caller owns only what it created, never an entry without a caller; an operator
// every one; nobody (no name, the caller role) nothing.
func TestOwns(t *testing.T) {
	alice := Caller{Name: "alice", Role: RoleCaller}
	ops := Caller{Name: "ops", Role: RoleOperator}
	nobody := Caller{Role: RoleCaller}
	for _, c := range []struct {
		who   Caller
		owner string
		want  bool
	}{{alice, "alice", true}, {alice, "bob", false}, {alice, "", false}, {ops, "bob", true}, {ops, "", true},
		{nobody, "", false}, {nobody, "alice", false}} {
		if got := c.who.Owns(c.owner); got != c.want {
			t.Errorf("%+v owns %q: %v, want %v", c.who, c.owner, got, c.want)
		}
	}
	if From(context.Background()).Name != Anonymous || !From(context.Background()).SeesAll() {
		t.Error("a context no transport authenticated is not the anonymous operator")
	}
	if From(With(context.Background(), alice)) != alice {
		t.Error("the caller does not travel in the context")
	}
}

// TestDirectory: tokens by their hash, API_TOKEN as the operator, nothing on without a token.
func TestDirectory(t *testing.T) {
	d := NewDirectory([]Caller{{Name: "alice", Role: RoleCaller}}, [][32]byte{sha256.Sum256([]byte("t-a"))}, "op", "alice")
	if c, ok := d.ByToken("t-a"); !ok || c.Name != "alice" {
		t.Errorf("alice's token: %+v %v", c, ok)
	}
	if c, ok := d.ByToken("op"); !ok || c.Name != TokenOperator || !c.SeesAll() {
		t.Errorf("API_TOKEN: %+v %v", c, ok)
	}
	if _, ok := d.ByToken("t-"); ok {
		t.Error("a prefix of a token authenticated")
	}
	if NewDirectory(nil, nil, "", "").On() {
		t.Error("authentication on without a token")
	}
}
