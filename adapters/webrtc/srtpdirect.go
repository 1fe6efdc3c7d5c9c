package webrtc

import (
	"cmp"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	pion "github.com/pion/webrtc/v4"
)

// The direct send path.
//
// pion sends each RTP packet of a viewer through its SRTP session, its
// DTLS/SRTP demultiplexer, the ICE connection and the candidate pair
// before the socket: at 200 viewers that layering cost more than the
// encryption itself (a mutex, a channel poll and an interface call or two
// per layer, per packet). A viewer on the muxed UDP port (batchConn) instead
// has its packets encrypted by an SRTP context of its own and queued on
// the socket of its ICE pair at once, below the interceptors (NACK
// history, sender report counts), which still see every packet.
//
// pion does not export a connection's DTLS keying material exporter, so
// the context is derived as pion derives its own (RFC 5764 with the
// RFC 5705 exporter): from the master secret and the client random,
// which the DTLS layer hands to a per-connection key log writer, and from
// the server random, cipher suite and SRTP profile, which the server
// sees in its own ServerHello. The secrets never leave the process: the
// writer is a struct in memory, cleared once the context is made. The
// server can only see its own ServerHello, so a WHEP offer that leaves
// the DTLS role open (actpass) is answered as the DTLS server
// (setup:passive); a viewer whose handshake the server did not serve (it
// chose to be the DTLS server, or answered our offer as one), or whose
// ICE pair is not on a batchConn, is sent through pion as before. RTP header
// encryption (cryptex) is set as pion sets it. The choice is made once,
// before the first packet, so that one SRTP context covers a stream from
// its first packet (its rollover counter follows the sequence numbers).

// errNoDirect says why a viewer is not on the direct path.
var errNoDirect = errors.New("direct SRTP path unavailable")

// keyTap collects one DTLS connection's handshake secrets. It is the
// connection's key log writer (dtls writes "CLIENT_RANDOM <client random>
// <master secret>" once the master secret is known) and its ServerHello
// hook.
type keyTap struct {
	mu           sync.Mutex
	clientRandom []byte
	master       []byte
	serverRandom [handshake.RandomLength]byte
	suite        dtls.CipherSuiteID
	profile      srtp.ProtectionProfile
	hello, keyed bool
}

// Write takes a key log line.
func (k *keyTap) Write(p []byte) (int, error) {
	fields := strings.Fields(string(p))
	if len(fields) != 3 || fields[0] != "CLIENT_RANDOM" {
		return len(p), nil // another label (none in DTLS 1.2): not ours
	}
	cr, err1 := hex.DecodeString(fields[1])
	ms, err2 := hex.DecodeString(fields[2])
	if err1 != nil || err2 != nil || len(cr) != handshake.RandomLength || len(ms) == 0 {
		return 0, fmt.Errorf("%w: malformed key log line", errNoDirect)
	}
	k.mu.Lock()
	k.clientRandom, k.master, k.keyed = cr, ms, true
	k.mu.Unlock()
	return len(p), nil
}

// serverHello notes the server's random, cipher suite and SRTP profile,
// and returns the message unchanged.
func (k *keyTap) serverHello(m handshake.MessageServerHello) handshake.Message {
	k.mu.Lock()
	k.serverRandom = m.Random.MarshalFixed()
	if m.CipherSuiteID != nil {
		k.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			k.profile = srtp.ProtectionProfile(u.ProtectionProfiles[0])
		}
	}
	k.hello = true
	k.mu.Unlock()
	return &m
}

// prfHash is the TLS 1.2 PRF hash of a cipher suite pion's DTLS
// negotiates, or nil for one this code does not know.
func prfHash(id dtls.CipherSuiteID) prf.HashFunc {
	switch id {
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return sha512.New384
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, dtls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, dtls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8:
		return sha256.New
	}
	return nil
}

// ExportKeyingMaterial is RFC 5705's exporter without context, as the
// DTLS server computes it (srtp.KeyingMaterialExporter).
func (k *keyTap) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if context != nil {
		return nil, fmt.Errorf("%w: exporter context not supported", errNoDirect)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.hello || !k.keyed {
		return nil, fmt.Errorf("%w: handshake not served as the DTLS server", errNoDirect)
	}
	h := prfHash(k.suite)
	if h == nil {
		return nil, fmt.Errorf("%w: cipher suite %#04x", errNoDirect, uint16(k.suite))
	}
	seed := make([]byte, 0, len(label)+2*handshake.RandomLength)
	seed = append(append(append(seed, label...), k.clientRandom...), k.serverRandom[:]...)
	return prf.PHash(k.master, seed, length, h)
}

// localCipher is what the server encrypts with, made from the
// handshake's secrets, which are then forgotten: a gcmSealer for the
// AES-GCM profiles, pion's SRTP context for the others.
func (k *keyTap) localCipher(cryptex srtp.CryptexMode) (*gcmSealer, *srtp.Context, error) {
	k.mu.Lock()
	profile := k.profile
	k.mu.Unlock()
	if profile == 0 {
		return nil, nil, fmt.Errorf("%w: no SRTP profile negotiated", errNoDirect)
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(k, false); err != nil {
		return nil, nil, err
	}
	k.mu.Lock()
	clear(k.master)
	k.master, k.keyed = nil, false
	k.mu.Unlock()
	defer clear(cfg.Keys.LocalMasterKey)
	defer clear(cfg.Keys.RemoteMasterKey)
	seal, ok, err := newGCMSealer(profile, cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cryptex == srtp.CryptexModeEnabled)
	if ok {
		if err != nil {
			return nil, nil, fmt.Errorf("SRTP context: %w", err)
		}
		return seal, nil, nil
	}
	ctx, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile, srtp.Cryptex(cryptex))
	if err != nil {
		return nil, nil, fmt.Errorf("SRTP context: %w", err)
	}
	return nil, ctx, nil
}

// directOut is one viewer's direct send path (the package comment above).
// Its interceptor sits innermost in the viewer's chain: until start has
// succeeded it passes packets on to pion.
type directOut struct {
	tap keyTap
	on  atomic.Bool // start succeeded: packets go direct

	mu      sync.Mutex
	seal    *gcmSealer    // the AES-GCM profiles
	ctx     *srtp.Context // the others (seal is nil)
	conns   []*batchConn  // the muxed port's sockets
	conn    *batchConn    // the ICE pair's socket
	addr    netip.AddrPort
	streams map[uint32]*directStream // by SSRC
	hdr     rtp.Header               // scratch for EncryptRTP
	plain   []byte
	enc     []byte
	sizes   []int         // scratch for writeFrame
	slots   [][]byte      // scratch for writeFrame
	sent    atomic.Uint64 // packets sent direct
}

// directStream is one of a viewer's sent streams (a track) on the direct
// path: its SRTP rollover state, and what the interceptors above the
// direct one keep of its packets, which writeFrame updates in their place.
type directStream struct {
	ssrc  uint32
	pt    uint8
	bound atomic.Bool // until pion unbinds it
	roc   rocState    // on directOut.mu
	// Set as the interceptors bind the stream (nack.go, srreport.go); nil
	// when one does not handle it (audio has no NACK feedback).
	nack atomic.Pointer[nackStream]
	sr   atomic.Pointer[srStream]
}

// directStreamKey is the StreamInfo attribute that holds a stream's
// *directStream while the interceptors bind it: the direct interceptor,
// innermost, binds first, and those above it find it there.
type directStreamKey struct{}

// tappedStream is the stream's *directStream, or nil off the direct path.
func tappedStream(info *interceptor.StreamInfo) *directStream {
	ds, _ := info.Attributes.Get(directStreamKey{}).(*directStream)
	return ds
}

// newDirectOut prepares a viewer's direct path over conns.
func newDirectOut(conns []*batchConn) *directOut {
	return &directOut{conns: conns, plain: make([]byte, 0, 1500), enc: make([]byte, 0, 1500), streams: map[uint32]*directStream{}}
}

// start moves the viewer to the direct path once its connection is up;
// an error says why it stays on pion's (errNoDirect).
func (d *directOut) start(pc *pion.PeerConnection) error {
	rd := pc.RemoteDescription()
	if rd == nil {
		return fmt.Errorf("%w: no remote description", errNoDirect)
	}
	// RTP header encryption (RFC 9335) as pion sets it for what it sends
	// (its default policy): on when the viewer declares it can receive it.
	cryptex := srtp.CryptexModeDisabled
	if strings.Contains(rd.SDP, "a=cryptex") {
		cryptex = srtp.CryptexModeEnabled
	}
	ice := pc.SCTP().Transport().ICETransport()
	pair, err := ice.GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return fmt.Errorf("%w: no selected ICE pair", errNoDirect)
	}
	conn, addr, err := d.route(pair)
	if err != nil {
		return err
	}
	seal, ctx, err := d.tap.localCipher(cryptex)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.seal, d.ctx, d.conn, d.addr = seal, ctx, conn, addr
	d.mu.Unlock()
	ice.OnSelectedCandidatePairChange(func(p *pion.ICECandidatePair) {
		if conn, addr, err := d.route(p); err == nil {
			d.mu.Lock()
			d.conn, d.addr = conn, addr
			d.mu.Unlock()
		}
	})
	d.on.Store(true)
	return nil
}

// route finds the socket and the remote address of an ICE pair: the
// socket bound to the local candidate's address, or, when addresses are
// rewritten (AdvertiseIPs) and only one socket serves the family, that one.
func (d *directOut) route(p *pion.ICECandidatePair) (*batchConn, netip.AddrPort, error) {
	if p == nil || p.Local == nil || p.Remote == nil {
		return nil, netip.AddrPort{}, fmt.Errorf("%w: incomplete ICE pair", errNoDirect)
	}
	remote, err1 := netip.ParseAddr(p.Remote.Address)
	local, err2 := netip.ParseAddr(p.Local.Address)
	if err1 != nil || err2 != nil || p.Local.Protocol != pion.ICEProtocolUDP {
		return nil, netip.AddrPort{}, fmt.Errorf("%w: ICE pair %v", errNoDirect, p)
	}
	var match, family *batchConn
	families := 0
	for _, c := range d.conns {
		la := c.localAddr()
		if la.Addr().Unmap() == local.Unmap() && la.Port() == p.Local.Port {
			match = c
			break
		}
		if c.v4 == remote.Unmap().Is4() {
			family = c
			families++
		}
	}
	if match == nil && families == 1 {
		match = family
	}
	if match == nil {
		return nil, netip.AddrPort{}, fmt.Errorf("%w: no muxed socket for %s", errNoDirect, p.Local.Address)
	}
	return match, netip.AddrPortFrom(remote.Unmap(), p.Remote.Port), nil
}

// write encrypts one packet and queues it on the pair's socket.
func (d *directOut) write(h *rtp.Header, payload []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writeLocked(h, payload)
}

// writeLocked is write with d.mu held.
func (d *directOut) writeLocked(h *rtp.Header, payload []byte) (int, error) {
	if d.seal != nil {
		ds := d.streams[h.SSRC]
		if ds == nil { // not bound through the interceptor: a stream of its own
			ds = &directStream{ssrc: h.SSRC, pt: h.PayloadType}
			d.streams[h.SSRC] = ds
		}
		d.sizes = append(d.sizes[:0], sealedLen(h, len(payload)))
		if err := d.sealQueued(ds, h, func(int) []byte { return payload }); err != nil {
			return 0, err
		}
		return h.MarshalSize() + len(payload), nil
	}
	n := h.MarshalSize() + len(payload)
	if cap(d.plain) < n {
		d.plain = make([]byte, 0, n)
	}
	plain := d.plain[:n]
	hl, err := h.MarshalTo(plain)
	if err != nil {
		return 0, err
	}
	copy(plain[hl:], payload)
	enc, err := d.ctx.EncryptRTP(d.enc[:0], plain, &d.hdr)
	if err != nil {
		return 0, err
	}
	d.enc = enc[:0]
	if _, err := d.conn.WriteToAddrPort(enc, d.addr); err != nil {
		return 0, err
	}
	d.sent.Add(1)
	return n, nil
}

// sealQueued reserves d.sizes datagrams on the pair's socket and seals
// into them, outside the socket's lock, the packets of h with the
// sequence numbers from h's on and the payloads of payload(i); the marker
// is h's on the last packet only. d.mu is held. A packet that cannot be
// sealed (errSealHeader) is queued as zeros, which a receiver discards.
func (d *directOut) sealQueued(ds *directStream, h *rtp.Header, payload func(i int) []byte) error {
	slots, filled, err := d.conn.reserve(d.addr, d.sizes, d.slots[:0])
	d.slots = slots[:0]
	if err != nil {
		return err
	}
	defer filled.Done()
	hdr := *h
	var first error
	for i, slot := range slots {
		hdr.SequenceNumber = h.SequenceNumber + uint16(i)
		hdr.Marker = h.Marker && i == len(slots)-1
		if _, err := d.seal.seal(slot, &hdr, payload(i), ds.roc.next(hdr.SequenceNumber)); err != nil {
			clear(slot)
			first = cmp.Or(first, err)
		}
	}
	clear(slots) // no references kept into the socket's queue
	d.sent.Add(uint64(len(slots)))
	return first
}

// stream is the bound stream of an SSRC, or nil.
func (d *directOut) stream(ssrc uint32) *directStream {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ds := d.streams[ssrc]; ds != nil && ds.bound.Load() {
		return ds
	}
	return nil
}

// writeFrame sends the packets of one frame of a bound stream (video
// marks its last packet) directly: as if written one by one through the
// viewer's interceptors, without their per-packet layers. It reports
// false, sending nothing, when the viewer is not on the direct path or
// the stream no longer bound (the caller writes through pion), and true
// with the error, if any, otherwise.
func (d *directOut) writeFrame(ds *directStream, payloads [][]byte, seq uint16, ts uint32, marker bool) (bool, error) {
	if len(payloads) == 0 || !d.on.Load() || !ds.bound.Load() {
		return false, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	h := rtp.Header{Version: 2, PayloadType: ds.pt, SequenceNumber: seq, Timestamp: ts, SSRC: ds.ssrc}
	// What the interceptors above would do, outermost first: the sender
	// reports count the packets, the NACK responder records them.
	if sr := ds.sr.Load(); sr != nil {
		octets := 0
		for _, p := range payloads {
			octets += len(p)
		}
		sr.sentN(ts, len(payloads), octets)
	}
	if nack := ds.nack.Load(); nack != nil {
		for i, p := range payloads {
			h.SequenceNumber = seq + uint16(i)
			h.Marker = marker && i == len(payloads)-1
			nack.record(&h, p)
		}
		h.SequenceNumber = seq
	}
	h.Marker = marker
	if d.seal == nil {
		var first error
		for i, p := range payloads {
			h.SequenceNumber = seq + uint16(i)
			h.Marker = marker && i == len(payloads)-1
			if _, err := d.writeLocked(&h, p); err != nil {
				first = cmp.Or(first, err)
			}
		}
		return true, first
	}
	d.sizes = d.sizes[:0]
	for _, p := range payloads {
		d.sizes = append(d.sizes, sealedLen(&h, len(p)))
	}
	return true, d.sealQueued(ds, &h, func(i int) []byte { return payloads[i] })
}

// directFactory installs a viewer's directOut in its interceptor chain.
type directFactory struct{ d *directOut }

func (f directFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &directInterceptor{d: f.d}, nil
}

type directInterceptor struct {
	interceptor.NoOp
	d *directOut
}

// BindLocalStream sends the stream's packets direct once the viewer is
// on the direct path, through pion (w) before, and makes the stream's
// directStream for writeFrame and the interceptors above.
func (i *directInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	d := i.d
	ds := &directStream{ssrc: info.SSRC, pt: info.PayloadType}
	ds.bound.Store(true)
	if info.Attributes == nil {
		info.Attributes = interceptor.Attributes{}
	}
	info.Attributes.Set(directStreamKey{}, ds)
	d.mu.Lock()
	d.streams[info.SSRC] = ds
	d.mu.Unlock()
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if d.on.Load() {
			return d.write(h, payload)
		}
		return w.Write(h, payload, a)
	})
}

// UnbindLocalStream forgets the stream.
func (i *directInterceptor) UnbindLocalStream(info *interceptor.StreamInfo) {
	i.d.mu.Lock()
	if ds := i.d.streams[info.SSRC]; ds != nil {
		ds.bound.Store(false)
	}
	delete(i.d.streams, info.SSRC)
	i.d.mu.Unlock()
}
