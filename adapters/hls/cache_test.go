package hls

import (
	"bytes"
	"testing"
	"unsafe"
)

// A joined segment holds its parts' bytes once: the parts' entries then
// point into the segment's body.
func TestJoinPartsSharesBytes(t *testing.T) {
	c := newFileCache()
	owner := &playlistFeed{}
	names := []string{"p1.mp4", "p2.mp4", "p3.mp4"}
	bodies := [][]byte{[]byte("first-"), []byte("second-"), []byte("third")}
	old := make([]*servedFile, len(names))
	for i, n := range names {
		old[i] = &servedFile{body: bodies[i], ctype: []string{"video/mp4"}, owner: owner, msn: 3}
		c.put(n, old[i])
	}
	if c.joinParts(append(names, "missing.mp4"), owner, 3) != nil {
		t.Fatal("joined a segment with a missing part")
	}
	seg := c.joinParts(names, owner, 3)
	if seg == nil || string(seg.body) != "first-second-third" || seg.length[0] != "18" || seg.msn != 3 {
		t.Fatalf("segment = %+v", seg)
	}
	for i, n := range names {
		f := c.get(n)
		if !bytes.Equal(f.body, bodies[i]) || f.owner != owner || f.msn != 3 || f.ctype[0] != "video/mp4" {
			t.Fatalf("%s after the join = %+v", n, f)
		}
		p := uintptr(unsafe.Pointer(unsafe.SliceData(f.body)))
		start := uintptr(unsafe.Pointer(unsafe.SliceData(seg.body)))
		if p < start || p >= start+uintptr(len(seg.body)) {
			t.Fatalf("%s still has its own copy of its bytes", n)
		}
		if cap(f.body) != len(f.body) {
			t.Fatalf("%s can grow into the next part (cap %d, len %d)", n, cap(f.body), len(f.body))
		}
		if string(old[i].body) != string(bodies[i]) {
			t.Fatalf("the entry a reader may still hold changed: %q", old[i].body)
		}
	}
	if files, size := c.size(); files != 3 || size != 18 {
		t.Fatalf("size = %d files, %d bytes", files, size)
	}
}
