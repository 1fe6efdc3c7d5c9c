package main

import (
	"context"
	"sync/atomic"
	"time"
)

// mediaSink receives the clip's access units in real time, video already
// stamped. ts is the decoding time from the start of publishing.
type mediaSink interface {
	writeVideo(ts, cts time.Duration, key bool, au []byte) error
	writeAudio(ts time.Duration, frame []byte) error
}

// pacerStats counts what the pacer sent; safe for concurrent reads.
type pacerStats struct {
	videoFrames atomic.Int64
	audioFrames atomic.Int64
	bytes       atomic.Int64
	// lateMax is the largest lag (ns) between a unit's due time and its send.
	lateMax atomic.Int64
}

// pace sends c to sink in real time (each unit when the wall clock reaches
// its DTS), looping the clip with continuous timestamps, until ctx ends or
// the sink fails. Every video access unit gets a stamp SEI with its send
// time.
func pace(ctx context.Context, c *clip, sink mediaSink, st *pacerStats) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := time.Now()
	for loop := 0; ; loop++ {
		off := time.Duration(loop) * c.duration
		for i := range c.samples {
			s := &c.samples[i]
			ts := off + s.dts
			if wait := time.Until(start.Add(ts)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			} else if ctx.Err() != nil {
				return nil
			}
			now := time.Now()
			if late := now.Sub(start.Add(ts)); late > time.Duration(st.lateMax.Load()) {
				st.lateMax.Store(int64(late))
			}
			var err error
			if s.video {
				au := stampAVCC(s.data, now.UnixNano())
				err = sink.writeVideo(ts, s.pts-s.dts, s.key, au)
				st.videoFrames.Add(1)
				st.bytes.Add(int64(len(au)))
			} else {
				err = sink.writeAudio(ts, s.data)
				st.audioFrames.Add(1)
				st.bytes.Add(int64(len(s.data)))
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}
