package main

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestParseSteps(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		in   string
		want []step
		err  bool
	}{
		{in: "hls:1,whep:200", want: []step{{Mode: "hls", Viewers: 1}, {Mode: "whep", Viewers: 200}}},
		{in: " llhls:50 , ", want: []step{{Mode: "llhls", Viewers: 50}}},
		{in: "whep:100@5s-15s,ws:25@10s", want: []step{
			{Mode: "whep", Viewers: 100, Churn: churn{Min: 5 * s, Max: 15 * s}},
			{Mode: "ws", Viewers: 25, Churn: churn{Min: 10 * s, Max: 10 * s}}}},
		{in: "hls:2@500ms-1.5s", want: []step{{Mode: "hls", Viewers: 2, Churn: churn{Min: s / 2, Max: 3 * s / 2}}}},
		{in: "", err: true},
		{in: "hls", err: true},
		{in: "hls:0", err: true},
		{in: "hls:x", err: true},
		{in: "whep:10@", err: true},
		{in: "whep:10@15s-5s", err: true}, // backwards
		{in: "whep:10@0s-5s", err: true},  // a viewer that leaves at once
		{in: "whep:10@5-15", err: true},   // no units
		{in: "whep:10@5s-15s-20s", err: true},
	} {
		got, err := parseSteps(tc.in)
		if tc.err {
			if !errors.Is(err, errConfig) {
				t.Errorf("%q: %v, %v; want a configuration error", tc.in, got, err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: step %d is %+v, want %+v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestStepName(t *testing.T) {
	for _, tc := range []struct {
		st   step
		want string
	}{
		{step{Mode: "whep", Viewers: 200}, "whep:200"},
		{step{Mode: "whep", Viewers: 100, Churn: churn{Min: 5 * time.Second, Max: 15 * time.Second}}, "whep:100@5s-15s"},
		{step{Mode: "hls", Viewers: 3, Churn: churn{Min: time.Second, Max: time.Second}}, "hls:3@1s"},
	} {
		if got := tc.st.name(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.st, got, tc.want)
		}
	}
}

// Lifetimes fall in the range, both ends included, and spread over it.
func TestChurnLifetime(t *testing.T) {
	c := churn{Min: 5 * time.Second, Max: 7 * time.Second}
	r := rand.New(rand.NewPCG(1, 2))
	lo, hi := c.Max, c.Min
	for range 10000 {
		d := c.lifetime(r)
		if d < c.Min || d > c.Max {
			t.Fatalf("lifetime %v outside %v", d, c)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > c.Min+100*time.Millisecond || hi < c.Max-100*time.Millisecond {
		t.Errorf("lifetimes only from %v to %v in %v", lo, hi, c)
	}
	if d := (churn{Min: time.Second, Max: time.Second}).lifetime(r); d != time.Second {
		t.Errorf("fixed lifetime %v", d)
	}
}
