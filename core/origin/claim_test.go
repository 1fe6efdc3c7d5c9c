package origin

import (
	"errors"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
)

func TestDecide(t *testing.T) {
	now := time.Unix(5000, 0)
	key := stream.Key{App: "LiveApp", ID: "s1"}
	claim := func(owner node.ID, age time.Duration) *Claim {
		return &Claim{Stream: key, Node: owner, ClaimedAt: now.Add(-time.Hour), RenewedAt: now.Add(-age)}
	}
	tests := []struct {
		name      string
		existing  *Claim
		claimant  node.ID
		wantOwner node.ID
		taken     bool
		keepSince bool
	}{
		{"no claim", nil, "a", "a", false, false},
		{"own fresh claim", claim("a", time.Second), "a", "a", false, true},
		{"own stale claim", claim("a", time.Minute), "a", "a", false, true},
		{"other fresh", claim("b", time.Second), "a", "", true, false},
		{"other at the limit", claim("b", DefaultStaleAfter), "a", "", true, false},
		{"other stale", claim("b", DefaultStaleAfter+time.Millisecond), "a", "a", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.existing, tt.claimant, "10.0.0.1:5000", key, now, DefaultStaleAfter)
			if tt.taken {
				var te *TakenError
				if !errors.As(err, &te) || te.Owner != tt.existing.Node || te.Stream != key {
					t.Fatalf("err = %v, want TakenError by %s", err, tt.existing.Node)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Node != tt.wantOwner || !got.RenewedAt.Equal(now) || got.RelayAddr != "10.0.0.1:5000" {
				t.Fatalf("claim = %+v", got)
			}
			if tt.keepSince != got.ClaimedAt.Equal(now.Add(-time.Hour)) {
				t.Fatalf("ClaimedAt = %v (keep %v)", got.ClaimedAt, tt.keepSince)
			}
		})
	}
}

func TestRenew(t *testing.T) {
	now := time.Unix(5000, 0)
	c := Claim{Node: "a", RenewedAt: now.Add(-time.Minute)}
	got, err := Renew(c, "a", now)
	if err != nil || !got.RenewedAt.Equal(now) {
		t.Fatalf("Renew by owner = %+v, %v", got, err)
	}
	if _, err := Renew(c, "b", now); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Renew by other err = %v", err)
	}
}
