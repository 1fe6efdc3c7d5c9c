package webrtc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	pion "github.com/pion/webrtc/v4"
)

// TestKeyTapExporter runs real DTLS handshakes (pion/dtls, as pion's
// WebRTC uses it) with the tap on the server, and checks that the tap
// exports the same keying material as the server's own connection, for
// each cipher suite browsers and pion negotiate, with and without the
// extended master secret; and that the SRTP profile is the one chosen.
func TestKeyTapExporter(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecCert, err := selfsign.SelfSign(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCert, err := selfsign.SelfSign(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cert    tls.Certificate
		suite   dtls.CipherSuiteID
		ems     dtls.ExtendedMasterSecretType
		profile dtls.SRTPProtectionProfile
	}{
		"ecdsa aes128-gcm":          {ecCert, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.RequireExtendedMasterSecret, dtls.SRTP_AEAD_AES_128_GCM},
		"ecdsa aes128-gcm no ems":   {ecCert, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.DisableExtendedMasterSecret, dtls.SRTP_AES128_CM_HMAC_SHA1_80},
		"ecdsa aes256-gcm (sha384)": {ecCert, dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.RequireExtendedMasterSecret, dtls.SRTP_AEAD_AES_256_GCM},
		"ecdsa chacha20":            {ecCert, dtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, dtls.RequireExtendedMasterSecret, dtls.SRTP_AEAD_AES_128_GCM},
		"ecdsa aes256-cbc":          {ecCert, dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, dtls.RequireExtendedMasterSecret, dtls.SRTP_AES128_CM_HMAC_SHA1_80},
		"rsa aes128-gcm":            {rsaCert, dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, dtls.RequireExtendedMasterSecret, dtls.SRTP_AEAD_AES_128_GCM},
	} {
		t.Run(name, func(t *testing.T) {
			tap := &keyTap{}
			server, _ := dtlsPair(t,
				&dtls.Config{
					Certificates: []tls.Certificate{tc.cert}, CipherSuites: []dtls.CipherSuiteID{tc.suite},
					ExtendedMasterSecret: tc.ems, SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{tc.profile},
					KeyLogWriter: tap, ServerHelloMessageHook: tap.serverHello,
				},
				&dtls.Config{
					Certificates: []tls.Certificate{ecCert}, InsecureSkipVerify: true, CipherSuites: []dtls.CipherSuiteID{tc.suite},
					ExtendedMasterSecret: tc.ems, SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80, tc.profile},
				})
			state, ok := server.ConnectionState()
			if !ok {
				t.Fatal("no connection state")
			}
			for _, n := range []int{60, 88} { // the exports of the 128- and 256-bit profiles
				want, err := state.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, n)
				if err != nil {
					t.Fatal(err)
				}
				got, err := tap.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, n)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("exported %d bytes differ from the connection's", n)
				}
			}
			if got := uint16(tap.profile); got != uint16(tc.profile) {
				t.Fatalf("profile %#x, want %#x", got, uint16(tc.profile))
			}
			seal, ctx, err := tap.localCipher(srtp.CryptexModeDisabled)
			if err != nil {
				t.Fatal(err)
			}
			gcm := tc.profile == dtls.SRTP_AEAD_AES_128_GCM || tc.profile == dtls.SRTP_AEAD_AES_256_GCM
			if (seal != nil) != gcm || (ctx != nil) == gcm {
				t.Fatalf("profile %#x: sealer %v, pion context %v; want the sealer for AES-GCM only", uint16(tc.profile), seal != nil, ctx != nil)
			}
			if tap.master != nil || tap.keyed {
				t.Fatal("the master secret is kept after the context was made")
			}
		})
	}
}

// dtlsPair handshakes a DTLS server and client over loopback UDP.
func dtlsPair(t *testing.T, serverCfg, clientCfg *dtls.Config) (*dtls.Conn, *dtls.Conn) {
	t.Helper()
	sc, cc := listenLoopback(t), listenLoopback(t)
	server, err := dtls.Server(sc, cc.LocalAddr(), serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dtls.Client(cc, sc.LocalAddr(), clientCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = client.Close()
		_ = server.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 1)
	go func() { errs <- client.HandshakeContext(ctx) }()
	if err := server.HandshakeContext(ctx); err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	return server, client
}

// TestKeyTapIncomplete: without the server's side of a handshake, or
// with a line that is not a key, the tap makes no context.
func TestKeyTapIncomplete(t *testing.T) {
	for name, tc := range map[string]struct {
		lines []string
		hello bool
	}{
		"nothing":             {},
		"key without hello":   {lines: []string{"CLIENT_RANDOM " + hex32 + " 0102\n"}, hello: false},
		"hello without a key": {hello: true},
		"another label":       {lines: []string{"SERVER_HANDSHAKE_TRAFFIC_SECRET " + hex32 + " 0102\n"}, hello: true},
	} {
		t.Run(name, func(t *testing.T) {
			tap := &keyTap{}
			for _, l := range tc.lines {
				if _, err := tap.Write([]byte(l)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.hello {
				tap.hello, tap.suite, tap.profile = true, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 1
			}
			if _, _, err := tap.localCipher(srtp.CryptexModeDisabled); !errors.Is(err, errNoDirect) {
				t.Fatalf("err = %v, want errNoDirect", err)
			}
		})
	}
	if _, err := (&keyTap{}).Write([]byte("CLIENT_RANDOM zz 0102\n")); !errors.Is(err, errNoDirect) {
		t.Fatalf("malformed line: err = %v", err)
	}
	tap := &keyTap{hello: true, keyed: true, suite: 0xffff, profile: 1, master: []byte{1}, clientRandom: make([]byte, 32)}
	if _, _, err := tap.localCipher(srtp.CryptexModeDisabled); !errors.Is(err, errNoDirect) {
		t.Fatalf("unknown suite: err = %v", err)
	}
}

const hex32 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// TestDirectRoute: the socket of an ICE pair.
func TestDirectRoute(t *testing.T) {
	listen := func(ip string) *batchConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		b := newBatchConn(c, false)
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	a, b := listen("127.0.0.1"), listen("127.0.0.2")
	pair := func(local string, port uint16, proto pion.ICEProtocol) *pion.ICECandidatePair {
		return &pion.ICECandidatePair{
			Local:  &pion.ICECandidate{Address: local, Port: port, Protocol: proto},
			Remote: &pion.ICECandidate{Address: "127.0.0.9", Port: 4000, Protocol: proto},
		}
	}
	for name, tc := range map[string]struct {
		conns []*batchConn
		pair  *pion.ICECandidatePair
		want  *batchConn
	}{
		"bound address":           {[]*batchConn{a, b}, pair("127.0.0.2", b.localAddr().Port(), pion.ICEProtocolUDP), b},
		"rewritten, one socket":   {[]*batchConn{a}, pair("203.0.113.7", a.localAddr().Port(), pion.ICEProtocolUDP), a},
		"rewritten, two sockets":  {[]*batchConn{a, b}, pair("203.0.113.7", a.localAddr().Port(), pion.ICEProtocolUDP), nil},
		"tcp":                     {[]*batchConn{a}, pair("127.0.0.1", a.localAddr().Port(), pion.ICEProtocolTCP), nil},
		"no remote":               {[]*batchConn{a}, &pion.ICECandidatePair{Local: &pion.ICECandidate{Address: "127.0.0.1"}}, nil},
		"not an address (mDNS)":   {[]*batchConn{a}, pair("abc.local", a.localAddr().Port(), pion.ICEProtocolUDP), nil},
		"no socket of the family": {nil, pair("127.0.0.1", a.localAddr().Port(), pion.ICEProtocolUDP), nil},
	} {
		t.Run(name, func(t *testing.T) {
			d := newDirectOut(tc.conns)
			got, addr, err := d.route(tc.pair)
			if tc.want == nil {
				if !errors.Is(err, errNoDirect) {
					t.Fatalf("err = %v, want errNoDirect", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("route = %v, %v", got, err)
			}
			if addr.String() != "127.0.0.9:4000" {
				t.Fatalf("remote %s", addr)
			}
		})
	}
}

// TestDirectPathNACK plays over the muxed port on the direct path, then
// NACKs packets the viewer has: they come again, encrypted by the
// server's own context (the viewer turned its replay protection off to
// see them), and the viewer decrypts all it is sent.
func TestDirectPathNACK(t *testing.T) {
	for name, noDirect := range map[string]bool{"direct": false, "through pion": true} {
		t.Run(name, func(t *testing.T) {
			st := h264Stream(t, loadH264Fixture(t, 1))
			play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
			cfg := Config{UDPMuxPort: freeUDPPort(t)}
			cfg.noDirect = noDirect
			s, hs := newTestServer(t, cfg, fakeIngest{publish: noPublish}, play)

			v := newSeqViewer(t)
			pc := v.pc
			playWHEP(t, hs.URL+"/LiveApp/whep/cam1", pc)
			waitConnected(t, pc)
			// The cached GOP's packets arrive, decrypted.
			waitFor(t, "the GOP's packets", 5*time.Second, func() bool {
				v.mu.Lock()
				defer v.mu.Unlock()
				return len(v.seen) >= 20
			})
			wantDirect := uint64(1)
			if noDirect {
				wantDirect = 0
			}
			if n := s.Stats().DirectViewers; n != wantDirect {
				t.Fatalf("DirectViewers = %d, want %d", n, wantDirect)
			}
			v.mu.Lock()
			var asked []uint16
			for seq, n := range v.seen {
				if n == 1 && len(asked) < 3 {
					asked = append(asked, seq)
				}
			}
			v.mu.Unlock()
			slices.Sort(asked) // a NACK lists them in order
			v.nack(t, asked)
			waitFor(t, "the retransmissions", 5*time.Second, func() bool {
				v.mu.Lock()
				defer v.mu.Unlock()
				for _, seq := range asked {
					if v.seen[seq] < 2 {
						return false
					}
				}
				return true
			})
			// The server counts them.
			if st := s.Stats(); st.Retransmitted != uint64(len(asked)) || st.RetransmitsRefused != 0 {
				t.Fatalf("Retransmitted %d, RetransmitsRefused %d; want %d and 0", st.Retransmitted, st.RetransmitsRefused, len(asked))
			}
		})
	}
}

// TestDirectWriteAllocs guards the direct path's cost: encrypting and
// queueing a packet, or a frame of packets, allocates nothing (the
// viewer's buffers and the socket's queue chunks are reused), with the
// AES-GCM sealer and with pion's context (the other profiles).
func TestDirectWriteAllocs(t *testing.T) {
	for _, sealer := range []bool{true, false} {
		t.Run(map[bool]string{true: "sealer", false: "pion context"}[sealer], func(t *testing.T) {
			sink := listenLoopback(t)
			b := newBatchConn(listenLoopback(t), true)
			defer b.Close()
			d := newDirectOut([]*batchConn{b})
			d.conn, d.addr = b, sink.LocalAddr().(*net.UDPAddr).AddrPort()
			key, salt := make([]byte, 16), make([]byte, 12)
			var err error
			if sealer {
				d.seal, _, err = newGCMSealer(srtp.ProtectionProfileAeadAes128Gcm, key, salt, false)
			} else {
				d.ctx, err = srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
			}
			if err != nil {
				t.Fatal(err)
			}
			ds := &directStream{ssrc: 7, pt: 102}
			ds.bound.Store(true)
			d.streams[7] = ds
			d.on.Store(true)
			h := rtp.Header{Version: 2, PayloadType: 102, SSRC: 7}
			payload := make([]byte, 1100)
			write := func() {
				h.SequenceNumber++
				if _, err := d.write(&h, payload); err != nil {
					t.Fatal(err)
				}
			}
			frame := [][]byte{payload, payload, payload, payload, payload, payload, payload[:300]}
			writeFrame := func() {
				h.SequenceNumber += uint16(len(frame))
				if ok, err := d.writeFrame(ds, frame, h.SequenceNumber, 1, true); !ok || err != nil {
					t.Fatal(ok, err)
				}
			}
			for range 100 { // warm the buffers up
				write()
				writeFrame()
			}
			if n := testing.AllocsPerRun(1000, write); n != 0 {
				t.Fatalf("%v allocations per packet", n)
			}
			if n := testing.AllocsPerRun(1000, writeFrame); n != 0 {
				t.Fatalf("%v allocations per frame", n)
			}
			if want := uint64(1100 + 1100*len(frame)); d.sent.Load() < want {
				t.Fatalf("%d packets sent direct, want %d", d.sent.Load(), want)
			}
		})
	}
}

// TestDirectFrameMatchesChain writes the same frames to two direct paths
// with the same keys (with the AES-GCM sealer, and with pion's context for
// the AES-CM profiles): one packet by packet through the viewer's
// interceptors (the direct one innermost, the NACK responder and the
// sender reports above it), the other a frame at a time (writeFrame). The
// datagrams sent, the sender report counts and the NACK history must be
// the same.
func TestDirectFrameMatchesChain(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		// AES-GCM: the sealer; AES-CM: pion's context, a packet at a time.
		t.Run(profile.String(), func(t *testing.T) { frameMatchesChain(t, profile) })
	}
}

func frameMatchesChain(t *testing.T, profile srtp.ProtectionProfile) {
	key, salt := testKeys(t, profile)
	sr := newSenderReports(time.Hour, time.Now)
	defer sr.Close()
	type path struct {
		d      *directOut
		sink   *net.UDPConn
		w      interceptor.RTPWriter
		ds     *directStream
		unbind func()
	}
	info := func() *interceptor.StreamInfo {
		return &interceptor.StreamInfo{SSRC: 0x5eed, PayloadType: 102, ClockRate: 90000, Attributes: interceptor.Attributes{},
			RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}
	}
	newPath := func() *path {
		p := &path{sink: listenLoopback(t)}
		b := newBatchConn(listenLoopback(t), true)
		t.Cleanup(func() { _ = b.Close() })
		p.d = newDirectOut([]*batchConn{b})
		p.d.conn, p.d.addr = b, p.sink.LocalAddr().(*net.UDPAddr).AddrPort()
		var err error
		if profile == srtp.ProtectionProfileAes128CmHmacSha1_80 {
			p.d.ctx, err = srtp.CreateContext(key, salt, profile)
		} else {
			p.d.seal, _, err = newGCMSealer(profile, key, salt, false)
		}
		if err != nil {
			t.Fatal(err)
		}
		p.d.on.Store(true)
		ir := &interceptor.Registry{}
		ir.Add(directFactory{p.d})
		ir.Add(nackResponderFactory{size: 64, counts: &nackCounts{}})
		ir.Add(sr)
		chain, err := ir.Build("")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = chain.Close() })
		in := info()
		p.w = chain.BindLocalStream(in, interceptor.RTPWriterFunc(func(*rtp.Header, []byte, interceptor.Attributes) (int, error) {
			t.Error("a packet went to pion")
			return 0, nil
		}))
		p.ds = tappedStream(in)
		p.unbind = func() { chain.UnbindLocalStream(in) }
		if p.ds == nil || p.ds.nack.Load() == nil || p.ds.sr.Load() == nil {
			t.Fatal("the stream is not tapped by the NACK responder and the sender reports")
		}
		return p
	}
	chained, framed := newPath(), newPath()
	const frames = 40
	seq := uint16(65500) // crosses a wrap
	for f := range frames {
		var payloads [][]byte
		for i := range 1 + f%5 {
			p := make([]byte, 200+100*i+f)
			p[0], p[1] = byte(f), byte(i)
			payloads = append(payloads, p)
		}
		ts := uint32(f * 3000)
		for i, p := range payloads {
			h := rtp.Header{Version: 2, Marker: i == len(payloads)-1, SequenceNumber: seq + uint16(i), Timestamp: ts, SSRC: 0x5eed, PayloadType: 102}
			if _, err := chained.w.Write(&h, p, nil); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := framed.d.writeFrame(framed.ds, payloads, seq, ts, true); !ok || err != nil {
			t.Fatalf("writeFrame: %v, %v", ok, err)
		}
		seq += uint16(len(payloads))
	}
	read := func(c *net.UDPConn, n int) [][]byte {
		var out [][]byte
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for len(out) < n {
			buf := make([]byte, 1500)
			k, err := c.Read(buf)
			if err != nil {
				t.Fatalf("after %d datagrams: %v", len(out), err)
			}
			out = append(out, buf[:k])
		}
		return out
	}
	want := int(chained.d.sent.Load())
	if got := int(framed.d.sent.Load()); got != want || want < frames {
		t.Fatalf("sent %d framed, %d chained", got, want)
	}
	a, b := read(chained.sink, want), read(framed.sink, want)
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("datagram %d differs", i)
		}
	}
	ra, rb := chained.ds.sr.Load().report(time.Now()), framed.ds.sr.Load().report(time.Now())
	if ra.PacketCount != uint32(want) || rb.PacketCount != ra.PacketCount || rb.OctetCount != ra.OctetCount || ra.RTPTime/3000 != rb.RTPTime/3000 {
		t.Fatalf("sender reports differ: %+v and %+v", ra, rb)
	}
	na, nb := chained.ds.nack.Load(), framed.ds.nack.Load()
	for i := range na.sent {
		pa, pb := na.sent[i], nb.sent[i]
		if !reflect.DeepEqual(pa.header(1), pb.header(1)) || !slices.Equal(pa.payload, pb.payload) || pa.valid != pb.valid {
			t.Fatalf("NACK history entry %d differs: %+v and %+v", i, pa, pb)
		}
	}
	// Once pion unbinds the stream, frames are no longer sent direct.
	framed.unbind()
	if ok, _ := framed.d.writeFrame(framed.ds, [][]byte{{1}}, seq, 0, true); ok {
		t.Fatal("a frame of an unbound stream was sent")
	}
	if framed.d.stream(0x5eed) != nil {
		t.Fatal("an unbound stream is still listed")
	}
}

// TestDirectFallsBackToPion: a viewer that offers to be the DTLS server
// (setup:passive) is the one handshake the server cannot read its keys
// from, so it is sent through pion's SRTP session, and plays.
func TestDirectFallsBackToPion(t *testing.T) {
	st := h264Stream(t, loadH264Fixture(t, 1))
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	s, hs := newTestServer(t, Config{UDPMuxPort: freeUDPPort(t)}, fakeIngest{publish: noPublish}, play)
	v := newViewerClient(t)
	offer := gatheredOffer(t, v.pc)
	if !strings.Contains(offer, "a=setup:actpass") {
		t.Fatalf("offer without setup:actpass:\n%s", offer)
	}
	resp, answer := postSDP(t, hs.URL+"/LiveApp/whep/cam1", strings.ReplaceAll(offer, "a=setup:actpass", "a=setup:passive"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %d %s", resp.StatusCode, answer)
	}
	if !strings.Contains(answer, "a=setup:active") {
		t.Fatalf("answer does not take the DTLS client role:\n%s", answer)
	}
	if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, v.pc)
	waitFor(t, "frames", 5*time.Second, func() bool {
		samples, _, _ := v.received()
		return len(samples) >= 20
	})
	if n := s.Stats().DirectViewers; n != 0 {
		t.Fatalf("DirectViewers = %d, want 0 (the server was the DTLS client)", n)
	}
}
