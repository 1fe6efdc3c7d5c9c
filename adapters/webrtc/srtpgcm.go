package webrtc

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// gcmSealer encrypts a viewer's RTP with SRTP's AES-GCM profiles
// (RFC 7714: AEAD_AES_128_GCM, AEAD_AES_256_GCM), which browsers and pion
// negotiate by default, straight from a header and a payload into the
// send queue's storage.
//
// pion's srtp.Context takes a whole marshalled packet, parses its header
// again and finds the SSRC's rollover state in a map, for every packet:
// at 200 viewers that was a third of the encryption's cost, and it needs
// the packet copied together first. Here the rollover state is the
// caller's (one per stream, rocState) and the payload is sealed where it
// will be sent from. The cipher itself is the standard library's GCM; only
// SRTP's framing (RFC 7714 section 8: the header as associated data, the
// IV from salt, SSRC and packet index) and its key derivation (RFC 3711
// section 4.3) are written here, and tested byte for byte against pion's.
//
// With header encryption (cryptex, RFC 9335) on, headers with extensions
// or CSRCs would need their own framing, which this does not do: it
// refuses them (errSealHeader). The server never sends such headers; its
// packets have neither, so cryptex changes nothing on them.
type gcmSealer struct {
	aead    cipher.AEAD
	salt    [gcmIVLen]byte
	cryptex bool
	iv      [gcmIVLen]byte // scratch: seal is not for concurrent use
}

const (
	gcmIVLen  = 12
	gcmTagLen = 16
	// Key derivation labels (RFC 3711 section 4.3.1).
	labelSRTPEncryption = 0x00
	labelSRTPSalt       = 0x02
)

var errSealHeader = errors.New("header extensions or CSRCs with cryptex are not sealed on the direct path")

// newGCMSealer derives the SRTP session key and salt from a master key and
// salt of an AES-GCM profile; ok is false for other profiles.
func newGCMSealer(profile srtp.ProtectionProfile, masterKey, masterSalt []byte, cryptex bool) (s *gcmSealer, ok bool, err error) {
	switch profile {
	case srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm:
	default:
		return nil, false, nil
	}
	keyLen, _ := profile.KeyLen() // known profiles: no error
	if len(masterKey) != keyLen || len(masterSalt) != gcmIVLen {
		return nil, true, fmt.Errorf("SRTP %v: master key of %d bytes, salt of %d", profile, len(masterKey), len(masterSalt))
	}
	key, err := srtpKDF(labelSRTPEncryption, masterKey, masterSalt, keyLen)
	if err != nil {
		return nil, true, err
	}
	salt, err := srtpKDF(labelSRTPSalt, masterKey, masterSalt, gcmIVLen)
	if err != nil {
		return nil, true, err
	}
	block, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, true, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, true, err
	}
	s = &gcmSealer{aead: aead, cryptex: cryptex}
	copy(s.salt[:], salt)
	return s, true, nil
}

// srtpKDF is SRTP's AES-CM key derivation with a key derivation rate of
// 0 (RFC 3711 section 4.3.3, as WebRTC uses it): AES in counter mode under
// the master key, from the master salt with the label at byte 7.
func srtpKDF(label byte, masterKey, masterSalt []byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	var in [aes.BlockSize]byte
	copy(in[:], masterSalt)
	in[7] ^= label
	out := make([]byte, (n+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	for i := 0; i*aes.BlockSize < n; i++ {
		binary.BigEndian.PutUint16(in[aes.BlockSize-2:], uint16(i))
		block.Encrypt(out[i*aes.BlockSize:], in[:])
	}
	return out[:n], nil
}

// sealedLen is the length of a sealed packet of header h and a payload
// of n bytes.
func sealedLen(h *rtp.Header, n int) int { return h.MarshalSize() + n + gcmTagLen }

// seal writes the SRTP packet of h and payload into dst, which must hold
// sealedLen bytes, and returns it; roc is the packet's rollover counter.
// Calls must not overlap.
func (s *gcmSealer) seal(dst []byte, h *rtp.Header, payload []byte, roc uint32) ([]byte, error) {
	if s.cryptex && (h.Extension || len(h.CSRC) > 0) {
		return nil, errSealHeader
	}
	hl, err := h.MarshalTo(dst)
	if err != nil {
		return nil, err
	}
	iv := &s.iv
	*iv = [gcmIVLen]byte{}
	binary.BigEndian.PutUint32(iv[2:], h.SSRC)
	binary.BigEndian.PutUint32(iv[6:], roc)
	binary.BigEndian.PutUint16(iv[10:], h.SequenceNumber)
	for i := range iv {
		iv[i] ^= s.salt[i]
	}
	out := s.aead.Seal(dst[hl:hl], iv[:], payload, dst[:hl])
	return dst[:hl+len(out)], nil
}

// rocState is a sent stream's SRTP packet index (RFC 3711 section 3.3.1):
// the rollover counter of each packet follows from its sequence number
// and the highest index sent, as pion's sender estimates it, so that a
// retransmission of a packet sent before a wrap gets its original counter.
type rocState struct {
	index   uint64 // the highest index sent: rollover counter << 16 | sequence number
	started bool
}

const seqHalf = 1 << 15

// next is the rollover counter of a packet of sequence number seq, which
// becomes the highest index if it is ahead of it.
func (r *rocState) next(seq uint16) uint32 {
	if !r.started {
		r.index, r.started = uint64(seq), true
		return 0
	}
	roc := uint32(r.index >> 16)
	last := int32(r.index & 0xffff)
	diff := int32(seq) - last
	if r.index > seqHalf {
		switch {
		case last < seqHalf && diff > seqHalf:
			roc-- // sent before the last wrap
			diff -= 1 << 16
		case last >= seqHalf && last-seqHalf > int32(seq):
			roc++ // past a wrap
			diff += 1 << 16
		}
	}
	if diff > 0 {
		r.index += uint64(diff)
	}
	return roc
}
