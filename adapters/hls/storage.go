package hls

import (
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/bluenviron/gohlslib/v2/pkg/storage"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// errNotFinalized is answered for a segment read before gohlslib ended it
// (gohlslib lists only ended segments, so a request never sees it).
var errNotFinalized = errors.New("segment not finalized")

// errRemoved is answered for a segment or part read after it left the
// window (a request that found it just before; the file cache serves the
// players).
var errRemoved = errors.New("segment removed")

// memStorage is the muxer's storage for segments and parts when they are
// kept in RAM (gohlslib's StorageFactory). gohlslib's own RAM storage
// keeps every part in a buffer grown by doubling, up to twice the media,
// and the file cache then held a second copy. Here a part is written once
// into its growing buffer; when gohlslib ends the segment, its parts are
// joined into one segmentMemory of exactly the segment's size (outside the
// Go heap where the system allows) and re-pointed into it, and readers hand
// it to the file cache by reference (sharedReader.WriteTo). Each byte of
// the window is then held once, at its exact size, whoever serves it.
type memStorage struct {
	files *memoryFiles // the server's bound on memory files
}

func (s memStorage) NewFile(string) (storage.File, error) { return &memFile{files: s.files}, nil }

// memFile is one segment: its parts while it is being written, then its
// joined bytes.
type memFile struct {
	mu        sync.Mutex
	parts     []*memPart
	mem       *segmentMemory // set by Finalize
	finalized bool
	removed   bool
	files     *memoryFiles
}

func (f *memFile) NewPart() storage.Part {
	p := &memPart{}
	f.mu.Lock()
	f.parts = append(f.parts, p)
	f.mu.Unlock()
	return p
}

// Finalize joins the parts into one exactly sized slice and re-points
// them into it; gohlslib writes nothing to the file afterwards.
func (f *memFile) Finalize() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.finalized || f.removed {
		return
	}
	f.finalized = true
	n := 0
	for _, p := range f.parts {
		b, _, _ := p.bytes()
		n += len(b)
	}
	mem := newSegmentMemory(n, f.files)
	off := 0
	for _, p := range f.parts {
		b, _, _ := p.bytes()
		copy(mem.b[off:], b)
		p.settle(mem.b[off:off+len(b):off+len(b)], mem)
		off += len(b)
	}
	f.mem = mem
	if mem.mapped {
		f.files.counted().enter(n)
	}
}

// Remove is called when the segment leaves the muxer's window (or the
// muxer ends). The file and its parts let go of the segment's memory at
// once: gohlslib keeps its segment objects referenced for some seconds
// after (about 4 s, measured), which kept every stream's last four
// segments mapped. The memory is released once no reader holds it (the
// file cache's entries, responses being written; the garbage collector
// finds it), and counts as expired until then.
func (f *memFile) Remove() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removed {
		return
	}
	f.removed = true
	if f.mem != nil && f.mem.mapped {
		f.files.counted().leave(len(f.mem.b))
	}
	f.mem = nil
	for _, p := range f.parts {
		p.remove()
	}
}

func (f *memFile) Reader() (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.removed {
		return nil, errRemoved
	}
	if !f.finalized {
		return nil, errNotFinalized
	}
	return &sharedReader{b: f.mem.b, mem: f.mem}, nil
}

func (f *memFile) Size() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mem == nil {
		return 0
	}
	return uint64(len(f.mem.b))
}

// memPart is one part: written once by gohlslib (fMP4 boxes are written,
// then their sizes patched, hence the seekable buffer), read many times.
type memPart struct {
	mu      sync.Mutex
	buf     seekablebuffer.Buffer
	settled []byte         // the part's bytes inside its segment, once joined
	mem     *segmentMemory // ... which keeps them mapped
	removed bool           // its segment left the window: nothing to read
}

func (p *memPart) Writer() io.WriteSeeker { return &p.buf }

func (p *memPart) Reader() (io.ReadCloser, error) {
	b, mem, ok := p.bytes()
	if !ok {
		return nil, errRemoved
	}
	return &sharedReader{b: b, mem: mem}, nil
}

// remove lets go of the part's bytes (its segment left the window).
func (p *memPart) remove() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removed, p.settled, p.mem = true, nil, nil
	p.buf = seekablebuffer.Buffer{}
}

// bytes returns the part's bytes, capped at their length so that no
// holder can append into the rest of the buffer, and the segment memory
// they lie in (nil before the join: they are on the heap); false once the
// part was removed.
func (p *memPart) bytes() ([]byte, *segmentMemory, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.removed {
		return nil, nil, false
	}
	if p.settled != nil {
		return p.settled, p.mem, true
	}
	b := p.buf.Bytes()
	return b[:len(b):len(b)], nil, true
}

// settle points the part at its bytes inside the joined segment and
// frees its own buffer.
func (p *memPart) settle(b []byte, mem *segmentMemory) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.settled, p.mem = b, mem
	p.buf = seekablebuffer.Buffer{}
}

// sharedReader reads shared, immutable bytes. gohlslib answers a request
// for a segment or part with io.Copy, which calls WriteTo: a writer that
// can keep a reference (the bufferedWriter the file cache reads through)
// gets the bytes themselves rather than a copy.
type sharedReader struct {
	b   []byte
	mem *segmentMemory // keeps b mapped; nil when b is on the heap
	off int
}

// sliceKeeper is a writer that can keep a reference to immutable bytes
// (and to the segment memory that keeps them mapped).
type sliceKeeper interface {
	keep(b []byte, mem *segmentMemory)
}

func (r *sharedReader) WriteTo(w io.Writer) (int64, error) {
	b := r.b[r.off:]
	r.off = len(r.b)
	if k, ok := w.(sliceKeeper); ok {
		k.keep(b, r.mem)
		return int64(len(b)), nil
	}
	n, err := w.Write(b)
	runtime.KeepAlive(r)
	return int64(n), err
}

func (r *sharedReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	runtime.KeepAlive(r)
	return n, nil
}

func (r *sharedReader) Close() error { return nil }
