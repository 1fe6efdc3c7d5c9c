package hls

import (
	"runtime"
	"testing"
	"time"
)

// Segment memory is counted as mapped when a segment ends, in a window
// until it is removed (once, however often Remove is called), expired
// after, and no longer mapped once its cleanup ran.
func TestSegmentBytes(t *testing.T) {
	b := &segmentBytes{}
	files := &memoryFiles{max: 64, bytes: b}
	const size = 256 << 10
	segment := func() *memFile {
		f, _ := memStorage{files: files}.NewFile("seg")
		mf := f.(*memFile)
		_, _ = mf.NewPart().Writer().Write(make([]byte, size))
		mf.Finalize()
		return mf
	}
	kept := []*memFile{segment(), segment()}
	if !kept[0].mem.mapped {
		if b.mapped.Load() != 0 || b.windowed.Load() != 0 {
			t.Fatalf("heap segments counted: %d / %d", b.mapped.Load(), b.windowed.Load())
		}
		t.Skip("segment memory is on the Go heap on this platform")
	}
	gone := segment()
	if m, w := b.mapped.Load(), b.windowed.Load(); m != 3*size || w != 3*size || b.expired() != 0 {
		t.Fatalf("mapped %d, in windows %d, expired %d: want %d, %d, 0", m, w, b.expired(), 3*size, 3*size)
	}
	gone.Remove()
	gone.Remove()
	if w, e := b.windowed.Load(), b.expired(); w != 2*size || e != size {
		t.Fatalf("after a Remove: in windows %d, expired %d; want %d, %d", w, e, 2*size, size)
	}
	// An unfinished segment removed counts nothing.
	f, _ := memStorage{files: files}.NewFile("next")
	f.Remove()
	gone = nil
	deadline := time.Now().Add(5 * time.Second)
	for b.mapped.Load() != 2*size && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if m, e := b.mapped.Load(), b.expired(); m != 2*size || e != 0 {
		t.Fatalf("after collection: mapped %d, expired %d; want %d, 0", m, e, 2*size)
	}
	runtime.KeepAlive(kept)
}
