package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
)

// FerretDB v1 runs each update, delete and findAndModify as a read followed
// by a separate write by _id, so two concurrent conditional updates of one
// document can both succeed, where MongoDB applies each to a document
// atomically. The proxy restores MongoDB's guarantee for tests: it passes
// the wire protocol through, but lets one write command at a time reach
// FerretDB (from sending it until its reply comes back).

// Wire protocol constants (MongoDB wire protocol, little-endian).
const (
	headerLen      = 16
	maxMessageLen  = 48 << 20
	opMsg          = 2013
	opCompressed   = 2012
	flagMoreToCome = 1 << 1
)

// writeCommands are the commands that change data or metadata.
var writeCommands = map[string]bool{
	"insert": true, "update": true, "delete": true,
	"findAndModify": true, "findandmodify": true,
	"create": true, "createIndexes": true, "drop": true, "dropIndexes": true,
	"dropDatabase": true, "renameCollection": true,
}

// proxy forwards connections from ln to backend.
type proxy struct {
	ln      net.Listener
	backend string
	log     *slog.Logger
	writes  chan struct{} // a one-slot semaphore held by the write in flight
	served  chan struct{} // closed when serve returns

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newProxy(ln net.Listener, backend string, log *slog.Logger) *proxy {
	return &proxy{
		ln: ln, backend: backend, log: log,
		writes: make(chan struct{}, 1),
		served: make(chan struct{}),
		conns:  map[net.Conn]struct{}{},
	}
}

// serve accepts connections until the listener is closed.
func (p *proxy) serve() {
	defer close(p.served)
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

// close stops accepting, cuts every connection and waits for their goroutines.
func (p *proxy) close() {
	_ = p.ln.Close()
	<-p.served
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track registers connections for close; false once the proxy is closing.
func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// conn is one proxied client connection.
type conn struct {
	p        *proxy
	client   net.Conn
	server   net.Conn
	mu       sync.Mutex
	awaiting map[int32]bool // request ids of writes holding the semaphore
}

func (p *proxy) handle(client net.Conn) {
	server, err := net.Dial("tcp", p.backend)
	if err != nil {
		p.log.Warn("proxy: dial backend", "err", err)
		_ = client.Close()
		return
	}
	defer func() {
		_ = client.Close()
		_ = server.Close()
		p.untrack(client, server)
	}()
	if !p.track(client, server) {
		return
	}
	c := &conn{p: p, client: client, server: server, awaiting: map[int32]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.replies()
	}()
	c.requests()
	_ = server.Close() // ends replies
	<-done
	c.releaseAll()
}

// requests forwards client messages, taking the semaphore for writes.
func (c *conn) requests() {
	for {
		msg, err := readMessage(c.client)
		if err != nil {
			return
		}
		reqID := int32(binary.LittleEndian.Uint32(msg[4:8]))
		write, moreToCome := classify(msg)
		if write {
			c.p.writes <- struct{}{}
			if !moreToCome {
				c.mu.Lock()
				c.awaiting[reqID] = true
				c.mu.Unlock()
			}
		}
		_, err = c.server.Write(msg)
		if write && moreToCome {
			<-c.p.writes // no reply will come
		}
		if err != nil {
			return
		}
	}
}

// replies forwards server messages, releasing the semaphore when a write's
// reply arrives.
func (c *conn) replies() {
	defer func() { _ = c.client.Close() }()
	for {
		msg, err := readMessage(c.server)
		if err != nil {
			return
		}
		respTo := int32(binary.LittleEndian.Uint32(msg[8:12]))
		_, err = c.client.Write(msg)
		c.mu.Lock()
		if c.awaiting[respTo] {
			delete(c.awaiting, respTo)
			<-c.p.writes
		}
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// releaseAll frees the semaphore held for writes whose reply never came.
func (c *conn) releaseAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.awaiting {
		delete(c.awaiting, id)
		<-c.p.writes
	}
}

// readMessage reads one whole wire message.
func readMessage(r io.Reader) ([]byte, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(hdr[0:4]))
	if n < headerLen || n > maxMessageLen {
		return nil, errors.New("bad wire message length")
	}
	msg := make([]byte, n)
	copy(msg, hdr[:])
	if _, err := io.ReadFull(r, msg[headerLen:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// classify reports whether msg is a write command (compressed messages
// count as writes: they cannot be read here) and whether it expects no reply.
func classify(msg []byte) (write, moreToCome bool) {
	switch binary.LittleEndian.Uint32(msg[12:16]) {
	case opCompressed:
		return true, false
	case opMsg:
	default:
		return false, false // legacy opcodes: handshakes only
	}
	if len(msg) < headerLen+4+1+4+1 {
		return false, false
	}
	flags := binary.LittleEndian.Uint32(msg[16:20])
	moreToCome = flags&flagMoreToCome != 0
	// Section kind 0 holds the command document; its first key names the command.
	for sec := msg[20:]; len(sec) > 5; {
		kind := sec[0]
		size := int(binary.LittleEndian.Uint32(sec[1:5]))
		if size < 5 || size+1 > len(sec) {
			return false, moreToCome
		}
		if kind == 0 {
			return writeCommands[firstKey(sec[1:1+size])], moreToCome
		}
		sec = sec[1+size:]
	}
	return false, moreToCome
}

// firstKey returns the name of a BSON document's first element.
func firstKey(doc []byte) string {
	if len(doc) < 6 {
		return ""
	}
	name := doc[5:] // length (4), element type (1), then the key as a C string
	if i := bytes.IndexByte(name, 0); i >= 0 {
		return string(name[:i])
	}
	return ""
}
