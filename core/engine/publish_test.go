package engine

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

func TestPublishRefusals(t *testing.T) {
	errBadToken := fmt.Errorf("%w: bad token", ports.ErrUnauthorized)
	tests := []struct {
		name string
		opts []option
		key  stream.Key
		want error
	}{
		{"unknown app", nil, stream.Key{App: "NoSuchApp", ID: "s1"}, ports.ErrUnknownApp},
		{"edge role", []option{withRole(node.RoleEdge)}, key("s1"), ports.ErrRoleRefused},
		{"auth refusal", []option{withAuth(fakeAuth{publish: func(req ports.PublishRequest) error {
			if req.Query.Get("token") != "good" {
				return errBadToken
			}
			return nil
		}})}, key("s1"), errBadToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts...)
			_, err := h.e.Publish(ctxT(t), ports.PublishRequest{Key: tt.key, PublishType: stream.PublishRTMP, Query: url.Values{"token": {"bad"}}})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Publish = %v, want %v", err, tt.want)
			}
			if live := h.e.Live(); len(live) != 0 {
				t.Fatalf("refused publish left %d live entries", len(live))
			}
			if _, ok := h.store.claim(tt.key); ok {
				t.Fatal("refused publish claimed the stream")
			}
			if _, ok := h.store.broadcast(tt.key); ok {
				t.Fatal("refused publish wrote a broadcast record")
			}
		})
	}
}

func TestPublishAuthorizedWithToken(t *testing.T) {
	var seen ports.PublishRequest
	h := newHarness(t, withAuth(fakeAuth{publish: func(req ports.PublishRequest) error {
		seen = req
		if req.Query.Get("token") != "good" {
			return ports.ErrUnauthorized
		}
		return nil
	}}))
	req := ports.PublishRequest{Key: key("s1"), PublishType: stream.PublishWebRTC, Query: url.Values{"token": {"good"}}, RemoteAddr: "192.0.2.9:1"}
	pub, err := h.e.Publish(ctxT(t), req)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	defer pub.End(nil)
	if seen.Key != req.Key || seen.RemoteAddr != req.RemoteAddr {
		t.Fatalf("authorizer saw %+v", seen)
	}
}

func TestPublishRecordsBroadcast(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	now := h.clock.Now()
	pub, err := h.e.Publish(ctxT(t), ports.PublishRequest{Key: k, PublishType: stream.PublishWebRTC})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	defer pub.End(nil)

	b, ok := h.store.broadcast(k)
	if !ok {
		t.Fatal("no broadcast record")
	}
	if b.Status != stream.StatusBroadcasting || b.OriginNode != string(selfID) || b.OriginAddr != selfPublic ||
		b.PublishType != stream.PublishWebRTC || !b.StartTime.Equal(now) {
		t.Fatalf("broadcast = %+v", b)
	}
	c, ok := h.store.claim(k)
	if !ok || c.Node != selfID || c.RelayAddr != selfRelay || !c.RenewedAt.Equal(now) {
		t.Fatalf("claim = %+v, %v", c, ok)
	}
	live := h.e.Live()
	if len(live) != 1 || live[0].Key != k || live[0].Pulled || live[0].Stream != nil || live[0].PublishType != stream.PublishWebRTC {
		t.Fatalf("Live = %+v", live)
	}
	if _, ok := h.e.LocalStream(k); ok {
		t.Fatal("LocalStream before Start")
	}
}

func TestPublishRestartsFinishedBroadcast(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	pub := h.publish(t, k)
	pub.End(nil)
	if b, _ := h.store.broadcast(k); b.Status != stream.StatusFinished {
		t.Fatalf("status after End = %s", b.Status)
	}
	h.clock.Advance(time.Minute)
	pub = h.publish(t, k)
	defer pub.End(nil)
	b, _ := h.store.broadcast(k)
	if b.Status != stream.StatusBroadcasting || !b.StartTime.Equal(h.clock.Now()) || !b.EndTime.IsZero() {
		t.Fatalf("republished broadcast = %+v", b)
	}
}

func TestSecondLocalPublisherIsBusy(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	first, s := h.start(t, k)

	_, err := h.e.Publish(ctxT(t), ports.PublishRequest{Key: k, PublishType: stream.PublishRTMP})
	if !errors.Is(err, ports.ErrStreamBusy) {
		t.Fatalf("second Publish = %v, want ErrStreamBusy", err)
	}
	var taken *origin.TakenError
	if errors.As(err, &taken) {
		t.Fatalf("local busy error claims another origin: %v", err)
	}
	// The first publisher is unaffected.
	if closed(first.Kicked()) {
		t.Fatal("first publisher was kicked")
	}
	if got, ok := h.e.LocalStream(k); !ok || got != s {
		t.Fatal("first publisher's stream is gone")
	}
	if closed(s.Done()) {
		t.Fatal("first publisher's stream was closed")
	}
	if c, ok := h.store.claim(k); !ok || c.Node != selfID {
		t.Fatalf("claim = %+v, %v", c, ok)
	}
	if b, _ := h.store.broadcast(k); b.Status != stream.StatusBroadcasting {
		t.Fatalf("status = %s", b.Status)
	}
}

func TestPublishClaimedElsewhere(t *testing.T) {
	tests := []struct {
		name    string
		age     time.Duration // since the other node renewed its claim
		wantErr bool
	}{
		{"live owner", time.Second, true},
		{"owner at the limit", testDead, true},
		{"stale owner", testDead + time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			k := key("s1")
			other := origin.Claim{Stream: k, Node: "node-b", RelayAddr: "10.0.0.2:7000", ClaimedAt: h.clock.Now(), RenewedAt: h.clock.Now()}
			h.store.putClaim(other)
			h.clock.Advance(tt.age)

			pub, err := h.e.Publish(ctxT(t), ports.PublishRequest{Key: k, PublishType: stream.PublishRTMP})
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Publish over a stale claim: %v", err)
				}
				defer pub.End(nil)
				if c, _ := h.store.claim(k); c.Node != selfID {
					t.Fatalf("claim = %+v, want taken over", c)
				}
				return
			}
			if !errors.Is(err, ports.ErrStreamBusy) {
				t.Fatalf("Publish = %v, want ErrStreamBusy", err)
			}
			var taken *origin.TakenError
			if !errors.As(err, &taken) || taken.Owner != "node-b" || taken.Stream != k {
				t.Fatalf("Publish = %v, want a *origin.TakenError by node-b", err)
			}
			if live := h.e.Live(); len(live) != 0 {
				t.Fatalf("refused publish left %+v", live)
			}
			if c, _ := h.store.claim(k); c != other {
				t.Fatalf("claim changed to %+v", c)
			}
			if _, ok := h.store.broadcast(k); ok {
				t.Fatal("refused publish wrote a broadcast record")
			}
		})
	}
}

func TestPublishStoreUnavailable(t *testing.T) {
	tests := []struct {
		name   string
		method string
	}{
		{"claim", "Claim"},
		{"broadcast record", "UpdateBroadcast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			k := key("s1")
			h.store.failOn(tt.method, true)
			_, err := h.e.Publish(ctxT(t), ports.PublishRequest{Key: k, PublishType: stream.PublishRTMP})
			if !errors.Is(err, ports.ErrUnavailable) {
				t.Fatalf("Publish = %v, want ErrUnavailable", err)
			}
			if errors.Is(err, ports.ErrStreamBusy) {
				t.Fatalf("store outage reported as busy: %v", err)
			}
			if live := h.e.Live(); len(live) != 0 {
				t.Fatalf("failed publish left a reservation: %+v", live)
			}
			if _, ok := h.store.claim(k); ok {
				t.Fatal("failed publish left its claim")
			}
			h.store.failOn(tt.method, false)
			pub := h.publish(t, k) // the store is back: publishing works
			pub.End(nil)
		})
	}
}

func TestPublishWhileDownThenUp(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	h.store.setDown(true)
	if _, err := h.e.Publish(ctxT(t), ports.PublishRequest{Key: k}); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Publish with the store down = %v", err)
	}
	h.store.setDown(false)
	pub := h.publish(t, k)
	pub.End(nil)
}
