package main

import "math/bits"

// seqTracker counts RTP packets expected and received over the
// measurement window, by extended sequence number, so retransmissions
// that fill a gap (NACK) are not counted as lost.
type seqTracker struct {
	started bool
	base    int64 // first extended sequence number counted
	high    int64 // highest seen
	seen    []uint64
	late    int64 // packets that filled a gap (retransmitted or reordered)
}

// add records seq. Counting starts with the first packet seen inside the
// window; after it, only packets at or below the highest are still taken
// (late retransmissions).
func (t *seqTracker) add(seq uint16, inWindow bool) {
	if !t.started {
		if !inWindow {
			return
		}
		t.started, t.base, t.high = true, int64(seq), int64(seq)
	}
	ext := t.high + int64(int16(seq-uint16(t.high)))
	if ext < t.base || ext-t.base > 1<<26 {
		return
	}
	gapFill := ext < t.high
	if ext > t.high {
		if !inWindow {
			return
		}
		t.high = ext
	}
	i := ext - t.base
	for int64(len(t.seen))*64 <= i {
		t.seen = append(t.seen, 0)
	}
	if bit := uint64(1) << (i % 64); t.seen[i/64]&bit == 0 {
		t.seen[i/64] |= bit
		if gapFill {
			t.late++
		}
	}
}

// counts returns packets expected and lost, leaving out the newest margin
// packets (retransmissions of them may still be on their way).
func (t *seqTracker) counts(margin int64) (expected, lost int64) {
	if !t.started {
		return 0, 0
	}
	n := t.high - margin - t.base + 1
	if n <= 0 {
		return 0, 0
	}
	var got int64
	full := n / 64
	for i := int64(0); i < full; i++ {
		got += int64(bits.OnesCount64(t.seen[i]))
	}
	if rem := n % 64; rem > 0 {
		got += int64(bits.OnesCount64(t.seen[full] & (1<<rem - 1)))
	}
	return n, n - got
}
