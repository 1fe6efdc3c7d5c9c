package main

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bsonDoc encodes {key: "x"} by hand.
func bsonDoc(key string) []byte {
	var e []byte
	e = append(e, 0x02) // string
	e = append(e, key...)
	e = append(e, 0)
	e = binary.LittleEndian.AppendUint32(e, 2)
	e = append(e, 'x', 0)
	doc := binary.LittleEndian.AppendUint32(nil, uint32(4+len(e)+1))
	doc = append(doc, e...)
	return append(doc, 0)
}

// wireMsg builds a message of opcode op with requestID id and responseTo to.
func wireMsg(op uint32, id, to int32, body []byte) []byte {
	m := binary.LittleEndian.AppendUint32(nil, uint32(headerLen+len(body)))
	m = binary.LittleEndian.AppendUint32(m, uint32(id))
	m = binary.LittleEndian.AppendUint32(m, uint32(to))
	m = binary.LittleEndian.AppendUint32(m, op)
	return append(m, body...)
}

// opMsgCommand builds an OP_MSG whose body section is {cmd: "x"}.
func opMsgCommand(id int32, flags uint32, cmd string) []byte {
	body := binary.LittleEndian.AppendUint32(nil, flags)
	body = append(body, 0) // section kind 0
	body = append(body, bsonDoc(cmd)...)
	return wireMsg(opMsg, id, 0, body)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name             string
		msg              []byte
		write, moreToCom bool
	}{
		{"Find", opMsgCommand(1, 0, "find"), false, false},
		{"Hello", opMsgCommand(1, 0, "hello"), false, false},
		{"FindAndModify", opMsgCommand(1, 0, "findAndModify"), true, false},
		{"Update", opMsgCommand(1, 0, "update"), true, false},
		{"InsertUnacknowledged", opMsgCommand(1, flagMoreToCome, "insert"), true, true},
		{"Delete", opMsgCommand(1, 0, "delete"), true, false},
		{"Compressed", wireMsg(opCompressed, 1, 0, make([]byte, 9)), true, false},
		{"LegacyQuery", wireMsg(2004, 1, 0, make([]byte, 20)), false, false},
		{"Truncated", wireMsg(opMsg, 1, 0, []byte{0, 0, 0, 0, 0, 100, 0, 0, 0}), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, m := classify(tt.msg)
			if w != tt.write || m != tt.moreToCom {
				t.Fatalf("classify = write %v, moreToCome %v; want %v, %v", w, m, tt.write, tt.moreToCom)
			}
		})
	}
}

// slowBackend answers every message after a pause, echoing it with
// responseTo set, and records how many requests it handled at once.
type slowBackend struct {
	ln        net.Listener
	active    atomic.Int32
	maxActive atomic.Int32
	wg        sync.WaitGroup
}

func startBackend(t *testing.T) *slowBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &slowBackend{ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				for {
					msg, err := readMessage(c)
					if err != nil {
						return
					}
					n := b.active.Add(1)
					for {
						m := b.maxActive.Load()
						if n <= m || b.maxActive.CompareAndSwap(m, n) {
							break
						}
					}
					time.Sleep(20 * time.Millisecond)
					b.active.Add(-1)
					id := int32(binary.LittleEndian.Uint32(msg[4:8]))
					if _, err := c.Write(wireMsg(opMsg, id+1000, id, msg[16:])); err != nil {
						return
					}
				}
			}()
		}
	}()
	return b
}

func (b *slowBackend) close() {
	_ = b.ln.Close()
	b.wg.Wait()
}

// roundTrips sends clients×perClient commands named cmd through the proxy at
// addr, each client on its own connection, and checks every reply.
func roundTrips(t *testing.T, addr, cmd string, clients, perClient int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for j := range perClient {
				id := int32(i*100 + j + 1)
				if _, err := c.Write(opMsgCommand(id, 0, cmd)); err != nil {
					t.Error(err)
					return
				}
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				reply, err := readMessage(c)
				if err != nil {
					t.Error(err)
					return
				}
				if to := int32(binary.LittleEndian.Uint32(reply[8:12])); to != id {
					t.Errorf("reply to %d, want %d", to, id)
				}
			}
		}()
	}
	wg.Wait()
}

func TestProxySerializesWrites(t *testing.T) {
	tests := []struct {
		cmd       string
		maxActive int32 // at most, for writes; at least, for reads
		write     bool
	}{
		{"findAndModify", 1, true},
		{"find", 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			b := startBackend(t)
			defer b.close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p := newProxy(ln, b.ln.Addr().String(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			go p.serve()
			defer p.close()

			roundTrips(t, ln.Addr().String(), tt.cmd, 4, 3)
			got := b.maxActive.Load()
			if tt.write && got > tt.maxActive {
				t.Errorf("%d writes reached the backend at once, want at most %d", got, tt.maxActive)
			}
			if !tt.write && got < tt.maxActive {
				t.Errorf("reads were serialized (at most %d at once), want at least %d", got, tt.maxActive)
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:27017": true, "127.0.0.1:0": true, "[::1]:1": true,
		"0.0.0.0:27017": false, ":27017": false, "localhost:1": false, "10.0.0.1:1": false, "127.0.0.1": false,
	} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}
