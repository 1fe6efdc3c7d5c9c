package hls

import (
	"bytes"
	"errors"
	"io"
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
	var none *segmentBytes // storage outside a server counts nothing
	none.addMapped(size)
	none.enter(size)
	if none.total() != 0 || none.expired() != 0 {
		t.Fatal("a nil count counted")
	}
	gone := segment()
	if m, w := b.total(), b.windowed.Load(); m != 3*size || w != 3*size || b.expired() != 0 {
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

// A segment that left the window is released once its own readers are
// done even while gohlslib still references the file and its parts (it
// keeps its segment objects for some seconds): Remove lets go of the
// memory. A reader opened before reads it whole; reads after are refused.
func TestRemovedSegmentReleased(t *testing.T) {
	b := &segmentBytes{}
	files := &memoryFiles{max: 64, bytes: b}
	const size = 256 << 10
	f, _ := memStorage{files: files}.NewFile("seg")
	mf := f.(*memFile)
	want := bytes.Repeat([]byte{0x5a}, size)
	part := mf.NewPart()
	_, _ = part.Writer().Write(want)
	mf.Finalize()
	if !mf.mem.mapped {
		t.Skip("segment memory is on the Go heap on this platform")
	}
	open, err := mf.Reader()
	if err != nil {
		t.Fatal(err)
	}
	mf.Remove()
	if _, err := mf.Reader(); !errors.Is(err, errRemoved) {
		t.Fatalf("segment read after Remove: %v, want errRemoved", err)
	}
	if _, err := part.Reader(); !errors.Is(err, errRemoved) {
		t.Fatalf("part read after Remove: %v, want errRemoved", err)
	}
	var got bytes.Buffer
	if _, err := io.Copy(&got, open); err != nil || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("the reader opened before Remove read %d bytes (%v), want %d", got.Len(), err, size)
	}
	open = nil
	deadline := time.Now().Add(5 * time.Second)
	for b.mapped.Load() != 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if m := b.mapped.Load(); m != 0 {
		t.Fatalf("%d bytes still mapped while only the removed file and part are referenced", m)
	}
	runtime.KeepAlive(mf)
	runtime.KeepAlive(part)
}
