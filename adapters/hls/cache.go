package hls

import (
	"bytes"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"sync"
)

// servedFile is a muxer file (init, segment or part) kept as one
// immutable byte slice with its headers, so that serving it is one Write
// of shared bytes: its name is unique to its content (the muxer's random
// prefix, then a sequence number), so players and CDNs may keep it long.
type servedFile struct {
	body []byte
	// mem, when body lies in off-heap segment memory, keeps it mapped for
	// as long as the entry is reachable (nil: body is on the Go heap).
	mem *segmentMemory
	// Header values, shared by every response: net/http only reads them.
	ctype, cacheControl, length []string
	owner                       *playlistFeed // the media playlist that lists it
	msn                         uint64        // the segment it belongs to (math.MaxUint64: the init file)
}

func newServedFile(res *bufferedWriter, owner *playlistFeed, msn uint64) *servedFile {
	body := res.bytes()
	if cap(body)-len(body) > len(body)/8 {
		body = bytes.Clone(body) // a grown buffer can hold twice its length
	}
	return &servedFile{
		body:         body,
		mem:          res.owner,
		ctype:        []string{res.header.Get("Content-Type")},
		cacheControl: []string{res.header.Get("Cache-Control")},
		length:       []string{strconv.Itoa(len(body))},
		owner:        owner,
		msn:          msn,
	}
}

// joinParts returns a segment made of its parts (an fMP4 segment is its
// parts end to end, as gohlslib stores it), or nil if one is missing. The
// parts' entries are then re-pointed into the segment's bytes, so the cache
// holds each byte of media once (readers still holding an old entry keep
// its bytes until they are done). Used when the muxer's storage is files:
// joining what the cache holds spares reading the segment back.
func (c *fileCache) joinParts(parts []string, owner *playlistFeed, msn uint64) *servedFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	files, n := c.partFiles(parts)
	if files == nil {
		return nil
	}
	body := make([]byte, 0, n)
	for _, f := range files {
		body = append(body, f.body...)
	}
	c.repoint(parts, files, body, nil)
	return &servedFile{
		body: body, ctype: files[0].ctype, cacheControl: files[0].cacheControl,
		length: []string{strconv.Itoa(n)}, owner: owner, msn: msn,
	}
}

// adoptParts re-points the entries of a segment's parts into the
// segment's bytes, which the muxer's storage (memStorage) joined from the
// same parts; it reports false, and changes nothing, when a part is
// missing or their sizes do not add up to the segment's.
func (c *fileCache) adoptParts(seg *servedFile, parts []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	files, n := c.partFiles(parts)
	if files == nil || n != len(seg.body) {
		return false
	}
	c.repoint(parts, files, seg.body, seg.mem)
	return true
}

// partFiles returns the entries of parts and their total size, or nil if
// one is missing. c.mu is held.
func (c *fileCache) partFiles(parts []string) ([]*servedFile, int) {
	files := make([]*servedFile, len(parts))
	n := 0
	for i, name := range parts {
		f := c.files[name]
		if f == nil {
			return nil, 0
		}
		files[i] = f
		n += len(f.body)
	}
	return files, n
}

// repoint replaces the entries of parts with copies whose bytes are their
// place in body (kept mapped by mem, if not nil), the parts end to end.
// c.mu is held.
func (c *fileCache) repoint(parts []string, files []*servedFile, body []byte, mem *segmentMemory) {
	off := 0
	for i, f := range files {
		part := *f
		part.body = body[off : off+len(f.body) : off+len(f.body)]
		part.mem = mem
		off += len(f.body)
		c.files[parts[i]] = &part
	}
}

// write answers the file.
func (f *servedFile) write(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Type"] = f.ctype
	h["Cache-Control"] = f.cacheControl
	h["Content-Length"] = f.length
	w.WriteHeader(http.StatusOK)
	if !f.mem.sendTo(w, f.body) {
		_, _ = w.Write(f.body)
	}
	runtime.KeepAlive(f) // f.mem keeps f.body mapped until written
}

// fileCache holds the files the media playlists of one muxer list, by
// name. A feed fills it before it publishes a playlist that lists them and
// drops them once their segment left the playlist (gohlslib forgets them
// then too).
type fileCache struct {
	mu    sync.RWMutex
	files map[string]*servedFile
}

func newFileCache() *fileCache {
	return &fileCache{files: make(map[string]*servedFile)}
}

func (c *fileCache) get(name string) *servedFile {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.files[name]
}

func (c *fileCache) has(name string) bool {
	return c.get(name) != nil
}

func (c *fileCache) put(name string, f *servedFile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files[name] = f
}

// prune drops owner's files of segments before first.
func (c *fileCache) prune(owner *playlistFeed, first uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, f := range c.files {
		if f.owner == owner && f.msn < first {
			delete(c.files, name)
		}
	}
}

// size returns how many files are held and their bytes.
func (c *fileCache) size() (files, bytes int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, f := range c.files {
		bytes += len(f.body)
	}
	return len(c.files), bytes
}

// initMSN is the msn of init files: never pruned while the muxer lives.
const initMSN = math.MaxUint64
