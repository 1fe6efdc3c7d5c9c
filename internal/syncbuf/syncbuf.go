// Package syncbuf is a byte buffer that a writer (a logger, a child
// process's output) and a reader (a test) can share.
package syncbuf

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer guarded by a mutex. The zero value is empty
// and ready.
type Buffer struct {
	// Limit, when positive, caps what is kept: once Limit bytes are held,
	// further writes are dropped (and reported written), so that a
	// chatty child process cannot fill memory.
	Limit int

	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p, unless Limit is reached.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit > 0 && b.buf.Len() >= b.Limit {
		return len(p), nil
	}
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bytes returns a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// Contains reports whether what was written so far contains s.
func (b *Buffer) Contains(s string) bool { return strings.Contains(b.String(), s) }
