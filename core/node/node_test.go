package node

import (
	"errors"
	"testing"
	"time"
)

func TestParseRole(t *testing.T) {
	tests := []struct {
		in      string
		want    Role
		ingests bool
		serves  bool
		err     bool
	}{
		{"origin", RoleOrigin, true, false, false},
		{"edge", RoleEdge, false, true, false},
		{"both", RoleBoth, true, true, false},
		{"", RoleBoth, true, true, false},
		{"master", "", false, false, true},
	}
	for _, tt := range tests {
		r, err := ParseRole(tt.in)
		if tt.err {
			if !errors.Is(err, ErrInvalidRole) {
				t.Errorf("ParseRole(%q) err = %v", tt.in, err)
			}
			continue
		}
		if err != nil || r != tt.want || r.Ingests() != tt.ingests || r.Serves() != tt.serves {
			t.Errorf("ParseRole(%q) = %v, %v (ingests %v serves %v)", tt.in, r, err, r.Ingests(), r.Serves())
		}
	}
}

func TestAliveAndPurgeable(t *testing.T) {
	now := time.Unix(10000, 0)
	tests := []struct {
		age       time.Duration
		alive     bool
		purgeable bool
	}{
		{0, true, false},
		{5 * time.Second, true, false},
		{DefaultDeadAfter, true, false},
		{DefaultDeadAfter + time.Millisecond, false, false},
		{time.Hour + time.Second, false, true},
	}
	for _, tt := range tests {
		n := Node{LastSeen: now.Add(-tt.age)}
		if got := n.Alive(now, DefaultDeadAfter); got != tt.alive {
			t.Errorf("age %v: Alive = %v", tt.age, got)
		}
		if got := n.Purgeable(now, time.Hour); got != tt.purgeable {
			t.Errorf("age %v: Purgeable = %v", tt.age, got)
		}
	}
}
