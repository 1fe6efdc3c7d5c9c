package stream

import (
	"errors"
	"testing"
	"time"
)

func TestTransitions(t *testing.T) {
	all := []Status{StatusCreated, StatusBroadcasting, StatusFinished, StatusFailed, StatusTerminatedUnexpectedly}
	allowed := map[[2]Status]bool{
		{StatusCreated, StatusBroadcasting}:                true,
		{StatusCreated, StatusFailed}:                      true,
		{StatusBroadcasting, StatusFinished}:               true,
		{StatusBroadcasting, StatusFailed}:                 true,
		{StatusBroadcasting, StatusTerminatedUnexpectedly}: true,
		{StatusFinished, StatusBroadcasting}:               true,
		{StatusFailed, StatusBroadcasting}:                 true,
		{StatusTerminatedUnexpectedly, StatusBroadcasting}: true,
		{StatusTerminatedUnexpectedly, StatusFinished}:     true,
	}
	for _, from := range all {
		if !from.Valid() {
			t.Errorf("%s not valid", from)
		}
		for _, to := range all {
			if from == to {
				continue
			}
			if got, want := CanTransition(from, to), allowed[[2]Status{from, to}]; got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if Status("live").Valid() {
		t.Error("unknown status reported valid")
	}
}

func TestBroadcastLifecycle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	k := Key{App: "LiveApp", ID: "s"}
	b := NewBroadcast(k, t0)
	if b.Status != StatusCreated || b.Live() {
		t.Fatalf("new broadcast = %+v", b)
	}
	if err := b.Transition(StatusBroadcasting, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	b.HLSViewers = 3
	if !b.Live() || !b.StartTime.Equal(t0.Add(time.Second)) || !b.EndTime.IsZero() {
		t.Fatalf("after start = %+v", b)
	}
	if err := b.Transition(StatusFinished, t0.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if b.HLSViewers != 0 || !b.EndTime.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("after finish = %+v", b)
	}
	if err := b.Transition(StatusTerminatedUnexpectedly, t0); !errors.Is(err, ErrBadTransition) {
		t.Fatalf("finished -> terminated err = %v", err)
	}
	if err := b.Transition(StatusFinished, t0); err != nil {
		t.Fatalf("same-state transition should be a no-op, got %v", err)
	}
}
