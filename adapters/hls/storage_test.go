package hls

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

var partURIRe = regexp.MustCompile(`#EXT-X-PART:[^\n]*URI="([^"]+)"`)

// within reports whether b's bytes lie inside outer's.
func within(b, outer []byte) bool {
	if len(b) == 0 {
		return true
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	start := uintptr(unsafe.Pointer(unsafe.SliceData(outer)))
	return p >= start && p+uintptr(len(b)) <= start+uintptr(len(outer))
}

// A segment of memStorage is held once, at its exact size: Finalize joins
// its parts and re-points them into the joined bytes, and readers hand out
// those bytes by reference to a writer that keeps them.
func TestMemStorageHoldsSegmentsOnce(t *testing.T) {
	f, err := memStorage{}.NewFile("x_main_seg7.mp4")
	if err != nil {
		t.Fatal(err)
	}
	contents := []string{"moof-mdat-one|", "moof-mdat-two|", "three"}
	for _, c := range contents {
		w := f.NewPart().Writer()
		// Written the way fMP4 boxes are: a placeholder, then patched.
		if _, err := w.Write([]byte(strings.Repeat("?", len(c)))); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Reader(); !errors.Is(err, errNotFinalized) {
		t.Fatalf("Reader before Finalize: %v, want errNotFinalized", err)
	}
	parts := f.(*memFile).parts
	before, mem, _ := parts[1].bytes()
	if mem != nil {
		t.Fatal("a part not yet joined claims segment memory")
	}
	if cap(before) != len(before) {
		t.Fatalf("a part read before the join can grow into its buffer (cap %d, len %d)", cap(before), len(before))
	}

	f.Finalize()
	f.Finalize() // idempotent
	want := strings.Join(contents, "")
	if f.Size() != uint64(len(want)) {
		t.Fatalf("Size = %d, want %d", f.Size(), len(want))
	}
	seg := readShared(t, f.Reader)
	if string(seg) != want || cap(seg) != len(seg) {
		t.Fatalf("segment %q (cap %d), want %q at its exact size", seg, cap(seg), want)
	}
	for i, p := range parts {
		b := readShared(t, p.Reader)
		if string(b) != contents[i] || !within(b, seg) || cap(b) != len(b) {
			t.Fatalf("part %d = %q, inside the segment %v, cap %d", i, b, within(b, seg), cap(b))
		}
		if p.buf.Len() != 0 || p.mem != f.(*memFile).mem {
			t.Fatalf("part %d still holds its write buffer, or not its segment's memory", i)
		}
	}
	if string(before) != contents[1] {
		t.Fatalf("bytes a reader held before the join changed: %q", before)
	}

	// A writer that cannot keep references gets a copy, and plain Read
	// works too.
	r, _ := f.Reader()
	var copied bytes.Buffer
	if n, err := io.Copy(&copied, r); err != nil || n != int64(len(want)) || copied.String() != want {
		t.Fatalf("io.Copy = %d, %v, %q", n, err, copied.String())
	}
	r, _ = f.Reader()
	if b, err := io.ReadAll(struct{ io.Reader }{r}); err != nil || string(b) != want {
		t.Fatalf("Read = %q, %v", b, err)
	}
}

// readShared reads through a bufferedWriter, as the file cache does, and
// checks that the bytes were handed over rather than copied.
func readShared(t *testing.T, open func() (io.ReadCloser, error)) []byte {
	t.Helper()
	r, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := newBufferedWriter()
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
	inner := r.(*sharedReader).b
	b := w.bytes()
	if w.owner != r.(*sharedReader).mem {
		t.Fatal("the bufferedWriter dropped the memory that keeps the bytes mapped")
	}
	if len(b) > 0 && unsafe.SliceData(b) != unsafe.SliceData(inner) {
		t.Fatal("the bufferedWriter copied the bytes instead of keeping them")
	}
	return b
}

// With segments in RAM, the file cache serves the storage's own bytes:
// every cached segment and part of a live Low-Latency stream is exactly
// sized, and each part lies inside its segment once that has ended.
func TestCacheSharesMuxerStorage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	key := mustKey(t, "LiveApp", "shared")
	ts.publish(t, key, 4*time.Second)
	_, mediaPath := ts.mainPlaylist(t, "shared")
	code, media, _ := ts.get(t, mediaPath)
	if code != 200 {
		t.Fatalf("media playlist: %d", code)
	}
	sm, _, _ := ts.srv.lookup(key)
	if sm == nil || sm.files == nil {
		t.Fatal("no muxer")
	}
	segs := uris(media)
	checked := 0
	for _, name := range segs {
		seg := sm.files.get(name)
		if seg == nil {
			continue
		}
		if cap(seg.body) != len(seg.body) {
			t.Errorf("segment %s: cap %d for %d bytes", name, cap(seg.body), len(seg.body))
		}
		// Its parts are listed just above it in the playlist.
		block := media[:strings.Index(media, name)]
		if i := strings.LastIndex(block, "#EXTINF"); i >= 0 {
			block = block[:i]
		}
		if i := strings.LastIndex(block, ".mp4\n"); i >= 0 {
			block = block[i:]
		}
		for _, m := range partURIRe.FindAllStringSubmatch(block, -1) {
			if strings.Contains(m[1], "?") {
				t.Fatalf("part URI with a query: %s", m[1])
			}
			p := sm.files.get(m[1])
			if p == nil {
				t.Fatalf("part %s of listed segment %s not cached", m[1], name)
			}
			if !within(p.body, seg.body) {
				t.Errorf("part %s holds its own copy, not the bytes of segment %s", m[1], name)
			}
			checked++
		}
	}
	if checked < 4 {
		t.Fatalf("checked %d parts of ended segments, want several:\n%s", checked, media)
	}
}

// Segment memory outside the Go heap stays mapped while anything serves
// from it and is released afterwards: segments are made, cached, served
// concurrently and dropped while the collector runs all the time; a read
// of unmapped memory would crash the test binary, and wrong bytes fail it.
func TestSegmentMemoryLifetime(t *testing.T) {
	c := newFileCache()
	owner := &playlistFeed{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	})
	for r := 0; r < 4; r++ {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, name := range []string{"seg", "p0", "p1"} {
					f := c.get(name)
					if f == nil {
						continue
					}
					rec := httptest.NewRecorder()
					f.write(rec)
					b := rec.Body.Bytes()
					for i := range b {
						if b[i] != b[0] {
							t.Errorf("%s: byte %d is %d, want %d", name, i, b[i], b[0])
							return
						}
					}
				}
			}
		})
	}
	for i := 0; i < 300; i++ {
		f, _ := memStorage{}.NewFile("x")
		for range 2 {
			w := f.NewPart().Writer()
			_, _ = w.Write(bytes.Repeat([]byte{byte(i)}, 40_000))
		}
		for k, p := range f.(*memFile).parts {
			res := newBufferedWriter()
			rd, _ := p.Reader()
			_, _ = io.Copy(res, rd)
			c.put("p"+strconv.Itoa(k), newServedFile(res, owner, uint64(i)))
		}
		f.Finalize()
		res := newBufferedWriter()
		rd, _ := f.Reader()
		_, _ = io.Copy(res, rd)
		seg := newServedFile(res, owner, uint64(i))
		c.put("seg", seg)
		if !c.adoptParts(seg, []string{"p0", "p1"}) {
			t.Fatal("parts not adopted")
		}
		c.prune(owner, uint64(i)) // drops the previous segment's entries
	}
	close(stop)
	wg.Wait()
}
