package hls

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fileConn records what net/http hands the connection's ReadFrom: a file
// there is what TCPConn.ReadFrom sends with sendfile.
type fileConn struct {
	*net.TCPConn
	files *atomic.Int64
}

func (c fileConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if _, ok := lr.R.(*os.File); ok {
			c.files.Add(1)
		}
	}
	return c.TCPConn.ReadFrom(r)
}

type fileListener struct {
	net.Listener
	files *atomic.Int64
}

func (l fileListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return fileConn{c.(*net.TCPConn), l.files}, nil
}

// TestSegmentSendfile: served files that lie in a segment's memory file
// go to the socket as a file (sendfile), whole or a part of it, and arrive
// byte for byte; small ones and heap ones are written; the bytes are
// counted either way.
func TestSegmentSendfile(t *testing.T) {
	const size = 300 << 10
	m := newSegmentMemory(size, &memoryFiles{max: 10})
	if runtime.GOOS == "linux" && m.fd <= 0 {
		t.Fatal("no memory file behind the segment's bytes on Linux")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range m.b {
		m.b[i] = byte(rng.Uint32())
	}
	heap := bytes.Clone(m.b[:size/2])
	cases := []struct {
		name     string
		body     []byte
		mem      *segmentMemory
		sendfile bool
	}{
		{"whole segment", m.b, m, true},
		{"a part inside it", m.b[70000:170000], m, true},
		{"its last bytes", m.b[size-sendfileMin:], m, true},
		{"small part", m.b[1000:5000], m, false},
		{"heap body", heap, nil, false},
	}
	files := &atomic.Int64{}
	bytesOut := &atomic.Uint64{}
	var cur atomic.Pointer[servedFile]
	handled := make(chan struct{}, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur.Load().write(&respWriter{ResponseWriter: w, bytesOut: bytesOut})
		handled <- struct{}{}
	}))
	srv.Listener = fileListener{srv.Listener, files}
	srv.Start()
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cur.Store(&servedFile{body: tc.body, mem: tc.mem, ctype: []string{"video/mp4"},
				cacheControl: []string{"max-age=60"}, length: []string{strconv.Itoa(len(tc.body))}})
			files.Store(0)
			bytesOut.Store(0)
			resp, err := client.Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d, %v", resp.StatusCode, err)
			}
			if !bytes.Equal(got, tc.body) {
				t.Fatalf("got %d bytes, not the %d served", len(got), len(tc.body))
			}
			<-handled // the handler counts after the last byte is out
			if n := bytesOut.Load(); n != uint64(len(tc.body)) {
				t.Errorf("counted %d bytes, want %d", n, len(tc.body))
			}
			if want := tc.sendfile && runtime.GOOS == "linux"; (files.Load() > 0) != want {
				t.Errorf("sent as a file: %v, want %v", files.Load() > 0, want)
			}
		})
	}
	// One reopened file served the three sendfile responses in turn.
	m.mu.Lock()
	idle := len(m.idle)
	m.mu.Unlock()
	if want := map[bool]int{true: 1, false: 0}[runtime.GOOS == "linux"]; idle != want {
		t.Errorf("%d reopened files kept after responses one at a time, want %d", idle, want)
	}
	runtime.KeepAlive(m)
}

// TestSegmentSendfileConcurrent: many responses of different parts of one
// segment at once each send their own bytes (each has a reopened file of
// its own, with its own position, taken from those kept or opened).
func TestSegmentSendfileConcurrent(t *testing.T) {
	const size = 512 << 10
	m := newSegmentMemory(size, &memoryFiles{max: 10})
	for i := range m.b {
		m.b[i] = byte(i * 7 / 3)
	}
	files := []*servedFile{}
	for off := 0; off+sendfileMin <= size; off += sendfileMin {
		b := m.b[off : off+sendfileMin]
		files = append(files, &servedFile{body: b, mem: m, ctype: []string{"video/mp4"},
			cacheControl: []string{"max-age=60"}, length: []string{strconv.Itoa(len(b))}})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(r.URL.Query().Get("i")[0] - 'a')
		files[i].write(&respWriter{ResponseWriter: w, bytesOut: &atomic.Uint64{}})
	}))
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	for round := 0; round < 8; round++ {
		for i := range files {
			wg.Go(func() {
				resp, err := client.Get(srv.URL + "/?i=" + string(rune('a'+i)))
				if err != nil {
					t.Error(err)
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !bytes.Equal(got, files[i].body) {
					t.Errorf("file %d: wrong bytes (%d)", i, len(got))
				}
			})
		}
	}
	wg.Wait()
	runtime.KeepAlive(m)
}

func TestSegmentMemoryOffset(t *testing.T) {
	m := newSegmentMemory(1000, nil)
	other := make([]byte, 10)
	for _, tc := range []struct {
		name string
		b    []byte
		off  int64
		ok   bool
	}{
		{"start", m.b[:10], 0, true},
		{"middle", m.b[100:200], 100, true},
		{"end", m.b[990:], 990, true},
		{"empty", m.b[5:5], 0, false},
		{"elsewhere", other, 0, false},
	} {
		off, ok := m.offset(tc.b)
		if off != tc.off || ok != tc.ok {
			t.Errorf("%s: offset %d, %v; want %d, %v", tc.name, off, ok, tc.off, tc.ok)
		}
	}
}

// TestMemoryFilesBound: segments past the server's bound on memory files
// are anonymous memory (still whole and served, by copy), and a segment's
// file is given back to the bound once its cleanup ran.
func TestMemoryFilesBound(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("memory files are Linux's")
	}
	files := &memoryFiles{max: 2}
	a, b, c := newSegmentMemory(1000, files), newSegmentMemory(1000, files), newSegmentMemory(1000, files)
	if a.fd <= 0 || b.fd <= 0 || c.fd != -1 {
		t.Fatalf("fds %d %d %d: want two memory files, then none", a.fd, b.fd, c.fd)
	}
	if n := files.open.Load(); n != 2 {
		t.Fatalf("%d memory files counted, want 2", n)
	}
	c.b[999] = 7
	if c.b[999] != 7 || len(c.b) != 1000 {
		t.Fatal("the segment past the bound has no memory")
	}
	runtime.KeepAlive(a)
	a, b = nil, nil
	deadline := time.Now().Add(10 * time.Second)
	for files.open.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d memory files still counted after their segments went", files.open.Load())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if d := newSegmentMemory(1000, files); d.fd <= 0 {
		t.Fatal("no memory file once the bound has room again")
	}
	runtime.KeepAlive(c)
}

// TestServerSendsSegmentsAsFiles: through the whole server (muxer, memory
// storage, file cache, respWriter), a segment of a published stream goes
// to the connection as a file, and arrives whole; a request that does not
// reach a connection's ReadFrom still gets every byte.
func TestServerSendsSegmentsAsFiles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("memory files are Linux's")
	}
	ts := newTestServer(t, Config{})
	ts.publish(t, mustKey(t, "LiveApp", "sf"), 5*time.Second)
	_, mediaPath := ts.mainPlaylist(t, "sf")
	var segs []string
	for deadline := time.Now().Add(15 * time.Second); len(segs) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no segments listed")
		}
		_, pl, _ := ts.get(t, mediaPath)
		segs = uris(pl)
	}
	seg := segs[len(segs)-1] // the first may be a gap before the stream
	files := &atomic.Int64{}
	hs := httptest.NewUnstartedServer(ts.srv)
	hs.Listener = fileListener{hs.Listener, files}
	hs.Start()
	defer hs.Close()
	client := hs.Client()
	defer client.CloseIdleConnections()
	resp, err := client.Get(hs.URL + "/LiveApp/streams/" + seg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("segment %s: status %d, %v: %s", seg, resp.StatusCode, err, got)
	}
	if len(got) < sendfileMin || strconv.Itoa(len(got)) != resp.Header.Get("Content-Length") {
		t.Fatalf("segment of %d bytes, Content-Length %s", len(got), resp.Header.Get("Content-Length"))
	}
	if files.Load() == 0 {
		t.Error("the segment was copied into the connection, not sent as a file")
	}
	// The same segment through a writer without ReadFrom: copied, whole.
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/LiveApp/streams/"+seg, nil))
	if !bytes.Equal(rec.Body.Bytes(), got) {
		t.Errorf("copied segment differs from the one sent as a file (%d and %d bytes)", rec.Body.Len(), len(got))
	}
}
