package syncbuf

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestBufferConcurrent: writers and readers at once (run with -race);
// every write is kept whole, and Bytes is a copy.
func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", w, i)
			}
		}()
		go func() {
			defer wg.Done()
			for range 100 {
				_ = b.Contains("w0-99")
				_ = b.Bytes()
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 400 || !b.Contains("w3-99\n") {
		t.Fatalf("%d lines, want 400 whole ones", len(lines))
	}
	c := b.Bytes()
	c[0] = 'X'
	if b.String()[0] == 'X' {
		t.Fatal("Bytes shares the buffer's memory")
	}
}

// TestBufferLimit: past Limit, writes are dropped but reported written.
func TestBufferLimit(t *testing.T) {
	b := Buffer{Limit: 8}
	for range 3 {
		if n, err := b.Write([]byte("12345")); n != 5 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := b.String(); got != "1234512345" {
		t.Fatalf("kept %q, want the writes up to the limit", got)
	}
}
