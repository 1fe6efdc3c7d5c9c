package webrtc

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// testKeys are a random master key and salt for profile.
func testKeys(t testing.TB, profile srtp.ProtectionProfile) (key, salt []byte) {
	t.Helper()
	kl, err := profile.KeyLen()
	if err != nil {
		t.Fatal(err)
	}
	sl, err := profile.SaltLen()
	if err != nil {
		t.Fatal(err)
	}
	key, salt = make([]byte, kl), make([]byte, sl)
	_, _ = rand.Read(key)
	_, _ = rand.Read(salt)
	return key, salt
}

// TestGCMSealerMatchesPion seals packet sequences with gcmSealer and
// with pion's srtp.Context from the same keys: the bytes must be the same
// (so the rollover counters are), and pion's receiving context must
// decrypt them. The sequences cross a sequence number wrap, and resend
// packets from before it after it, as NACK retransmissions do.
func TestGCMSealerMatchesPion(t *testing.T) {
	seqs := map[string][]uint16{
		"from zero":   {0, 1, 2, 3, 4, 5},
		"across wrap": {65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3},
		"resends across wrap": {65533, 65534, 65535, 0, 1, 2, 65534, 65535, 3, 4, 65533, 5,
			6},
		"reordered":  {100, 102, 101, 104, 103, 105, 99},
		"late start": {40000, 40001, 39990, 40002},
	}
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm} {
		for name, seq := range seqs {
			for _, cryptex := range []bool{false, true} {
				t.Run(profile.String()+"/"+name, func(t *testing.T) {
					key, salt := testKeys(t, profile)
					mode := srtp.CryptexModeDisabled
					if cryptex {
						mode = srtp.CryptexModeEnabled
					}
					s, ok, err := newGCMSealer(profile, key, salt, cryptex)
					if err != nil || !ok {
						t.Fatalf("newGCMSealer: %v, %v", ok, err)
					}
					enc, err := srtp.CreateContext(key, salt, profile, srtp.Cryptex(mode))
					if err != nil {
						t.Fatal(err)
					}
					dec, err := srtp.CreateContext(key, salt, profile, srtp.Cryptex(mode), srtp.SRTPReplayProtection(1<<15))
					if err != nil {
						t.Fatal(err)
					}
					var roc rocState
					decrypted := map[uint64]bool{} // pion refuses a replay
					payload := make([]byte, 1100)
					for i, sq := range seq {
						payload[0], payload[1] = byte(sq>>8), byte(sq)
						h := rtp.Header{Version: 2, Marker: sq%3 == 0, PayloadType: 102, SequenceNumber: sq, Timestamp: uint32(sq) * 3000, SSRC: 0x1234abcd}
						dst := make([]byte, sealedLen(&h, len(payload)))
						r := roc.next(sq)
						got, err := s.seal(dst, &h, payload, r)
						if err != nil {
							t.Fatal(err)
						}
						if &got[0] != &dst[0] || len(got) != len(dst) {
							t.Fatalf("packet %d: sealed %d bytes outside the %d given", i, len(got), len(dst))
						}
						plain, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
						if err != nil {
							t.Fatal(err)
						}
						want, err := enc.EncryptRTP(nil, plain, nil)
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, want) {
							t.Fatalf("packet %d (seq %d): sealed bytes differ from pion's", i, sq)
						}
						if index := uint64(r)<<16 | uint64(sq); decrypted[index] {
							continue
						} else {
							decrypted[index] = true
						}
						back, err := dec.DecryptRTP(nil, got, nil)
						if err != nil {
							t.Fatalf("packet %d (seq %d): pion cannot decrypt it: %v", i, sq, err)
						}
						if !bytes.Equal(back, plain) {
							t.Fatalf("packet %d: decrypted packet differs", i)
						}
					}
				})
			}
		}
	}
}

// TestROCState follows sequence numbers over several wraps, with
// retransmissions from up to 32767 packets back: each gets the rollover
// counter it was first sent with.
func TestROCState(t *testing.T) {
	for _, start := range []int{0, 1, 32767, 32768, 60000, 65535} {
		var r rocState
		for i := start; i < start+3*65536; i++ {
			if got, want := r.next(uint16(i)), uint32(i>>16); got != want {
				t.Fatalf("start %d, packet index %d: rollover counter %d, want %d", start, i, got, want)
			}
			for _, back := range []int{1, 100, 32767} {
				if j := i - back; j >= start && i%977 == 0 {
					if got, want := r.next(uint16(j)), uint32(j>>16); got != want {
						t.Fatalf("start %d, at %d, resend of %d: rollover counter %d, want %d", start, i, j, got, want)
					}
				}
			}
		}
	}
}

func TestGCMSealerRefuses(t *testing.T) {
	key, salt := testKeys(t, srtp.ProtectionProfileAes128CmHmacSha1_80)
	if s, ok, err := newGCMSealer(srtp.ProtectionProfileAes128CmHmacSha1_80, key, salt, false); ok || s != nil || err != nil {
		t.Fatalf("AES-CM profile: got %v, %v, %v; want none (pion's context)", s, ok, err)
	}
	if _, ok, err := newGCMSealer(srtp.ProtectionProfileAeadAes128Gcm, key[:15], salt[:12], false); !ok || err == nil {
		t.Fatalf("short key: %v, %v; want an error", ok, err)
	}
	key, salt = testKeys(t, srtp.ProtectionProfileAeadAes128Gcm)
	s, _, err := newGCMSealer(srtp.ProtectionProfileAeadAes128Gcm, key, salt, true)
	if err != nil {
		t.Fatal(err)
	}
	ext := rtp.Header{Version: 2}
	if err := ext.SetExtension(1, []byte{1}); err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]rtp.Header{
		"extension": ext,
		"CSRC":      {Version: 2, CSRC: []uint32{7}},
	} {
		dst := make([]byte, sealedLen(&h, 10))
		if _, err := s.seal(dst, &h, make([]byte, 10), 0); !errors.Is(err, errSealHeader) {
			t.Errorf("%s with cryptex: %v, want errSealHeader", name, err)
		}
	}
	// Without cryptex such headers are associated data like any other.
	s, _, _ = newGCMSealer(srtp.ProtectionProfileAeadAes128Gcm, key, salt, false)
	enc, _ := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	h := rtp.Header{Version: 2, SequenceNumber: 9, SSRC: 5, CSRC: []uint32{7}}
	if err := h.SetExtension(1, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	h.ExtensionProfile = rtp.ExtensionProfileOneByte
	got, err := s.seal(make([]byte, sealedLen(&h, 10)), &h, make([]byte, 10), 0)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := (&rtp.Packet{Header: h, Payload: make([]byte, 10)}).Marshal()
	want, _ := enc.EncryptRTP(nil, plain, nil)
	if !bytes.Equal(got, want) {
		t.Fatal("a header with an extension and a CSRC sealed unlike pion")
	}
}

// BenchmarkSeal is one 1200-byte packet sealed by gcmSealer and by
// pion's context (with the copy into one buffer that it needs).
func BenchmarkSeal(b *testing.B) {
	key, salt := testKeys(b, srtp.ProtectionProfileAeadAes128Gcm)
	payload := make([]byte, 1188)
	h := rtp.Header{Version: 2, PayloadType: 102, SSRC: 99, Timestamp: 1}
	b.Run("sealer", func(b *testing.B) {
		s, _, _ := newGCMSealer(srtp.ProtectionProfileAeadAes128Gcm, key, salt, false)
		var roc rocState
		dst := make([]byte, sealedLen(&h, len(payload)))
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h.SequenceNumber = uint16(i)
			if _, err := s.seal(dst, &h, payload, roc.next(h.SequenceNumber)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pion", func(b *testing.B) {
		ctx, _ := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
		plain := make([]byte, 0, 1500)
		enc := make([]byte, 0, 1500)
		var hdr rtp.Header
		b.SetBytes(int64(len(payload)))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h.SequenceNumber = uint16(i)
			p := plain[:h.MarshalSize()+len(payload)]
			n, _ := h.MarshalTo(p)
			copy(p[n:], payload)
			if _, err := ctx.EncryptRTP(enc[:0], p, &hdr); err != nil {
				b.Fatal(err)
			}
		}
	})
}
