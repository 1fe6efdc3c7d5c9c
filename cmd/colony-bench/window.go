package main

import (
	"sync/atomic"
	"time"
)

// window is the measurement interval of a run: viewers count bytes,
// frames, latency, loss and stalls only inside it. Until begin is called
// nothing is inside.
type window struct {
	start atomic.Int64 // ns since the epoch; 0 before begin
	end   atomic.Int64 // ns since the epoch; 0 while open
}

func (w *window) begin(t time.Time) { w.start.Store(t.UnixNano()) }
func (w *window) close(t time.Time) { w.end.Store(t.UnixNano()) }

// contains reports whether t falls inside the window.
func (w *window) contains(t time.Time) bool {
	s := w.start.Load()
	if s == 0 {
		return false
	}
	ns := t.UnixNano()
	e := w.end.Load()
	return ns >= s && (e == 0 || ns < e)
}
