package webrtc

import (
	"fmt"
	"time"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/pion/rtp"
)

// rtpMTU is the largest RTP payload the server sends (pion's default).
const rtpMTU = 1200

var startCode = []byte{0, 0, 0, 1}

// h264Out turns a stream's AVCC access units into the Annex-B access units
// pion's H.264 payloader takes, with the parameter sets before every IDR
// (RTMP sources carry them out of band only). It follows in-band SPS/PPS.
type h264Out struct {
	sps, pps []byte
	nalus    [][]byte
}

func newH264Out(t media.Track) *h264Out { return &h264Out{sps: t.SPS, pps: t.PPS} }

// annexB appends the access unit u to dst in Annex-B form, dropping access
// unit delimiters. It reports whether the unit holds an IDR.
func (h *h264Out) annexB(dst, avcc []byte) ([]byte, bool, error) {
	nalus, err := codec.SplitAVCC(h.nalus, avcc)
	if err != nil {
		return dst, false, err
	}
	h.nalus = nalus[:0]
	var idr, hasSPS, hasPPS bool
	for _, n := range nalus {
		switch codec.NALUType(n) {
		case codec.NALUSPS:
			h.sps, hasSPS = n, true
		case codec.NALUPPS:
			h.pps, hasPPS = n, true
		case codec.NALUIDR:
			idr = true
		}
	}
	if idr && !hasSPS && len(h.sps) > 0 {
		dst = append(append(dst, startCode...), h.sps...)
	}
	if idr && !hasPPS && len(h.pps) > 0 {
		dst = append(append(dst, startCode...), h.pps...)
	}
	for _, n := range nalus {
		if codec.NALUType(n) == codec.NALUAUD {
			continue
		}
		dst = append(append(dst, startCode...), n...)
	}
	return dst, idr, nil
}

// h264FmtpFor is the fmtp line announcing the profile of an SPS (a
// constrained-baseline default when unknown). pion binds a track to the
// offered H.264 format that matches it, or else to the first H.264 one.
func h264FmtpFor(sps []byte) string {
	profile := "42e01f"
	if len(sps) >= 4 {
		profile = fmt.Sprintf("%02x%02x%02x", sps[1], sps[2], sps[3])
	}
	return fmt.Sprintf(h264FmtpFormat, profile)
}

// rtpWriter is the part of pion's TrackLocalStaticRTP the server uses.
type rtpWriter interface {
	WriteRTP(p *rtp.Packet) error
}

// rtpOut packetizes frames for one outgoing track with timestamps the
// caller chooses.
type rtpOut struct {
	w         rtpWriter
	payloader rtp.Payloader
	video     bool
	seq       uint16
	pkt       rtp.Packet
	// direct, if not nil, sends whole frames of the track's stream (ssrc)
	// past pion's track and interceptors (directOut.writeFrame), once the
	// stream is bound (ds).
	direct *directOut
	ssrc   uint32
	ds     *directStream
}

// write sends one frame as RTP packets stamped ts; the last packet of a
// video frame carries the marker bit.
func (o *rtpOut) write(frame []byte, ts uint32) error {
	return o.writePayloads(o.payloader.Payload(rtpMTU, frame), ts)
}

// writePayloads sends a frame already packetized.
func (o *rtpOut) writePayloads(payloads [][]byte, ts uint32) error {
	if o.direct != nil {
		if o.ds == nil {
			o.ds = o.direct.stream(o.ssrc)
		}
		if o.ds != nil {
			if ok, err := o.direct.writeFrame(o.ds, payloads, o.seq, ts, o.video); ok {
				o.seq += uint16(len(payloads))
				return err
			}
		}
	}
	for i, pl := range payloads {
		o.pkt.Header = rtp.Header{
			Version:        2,
			Marker:         o.video && i == len(payloads)-1,
			SequenceNumber: o.seq,
			Timestamp:      ts,
		}
		o.pkt.Payload = pl
		o.seq++
		if err := o.w.WriteRTP(&o.pkt); err != nil {
			return err
		}
	}
	return nil
}

// rtpTicks converts a duration (possibly negative) to clock ticks, modulo 2^32.
func rtpTicks(d time.Duration, clock uint32) uint32 {
	sec, rem := int64(d/time.Second), int64(d%time.Second)
	return uint32(sec*int64(clock) + rem*int64(clock)/int64(time.Second))
}

// planBacklog decides how a new viewer plays the units already queued for
// it when it subscribes: the cached GOP, which starts at a keyframe that
// may be a second or two old.
//
// Colony starts at that keyframe, so that the first picture comes at once,
// but does not make the viewer live behind by the GOP's age: the cached
// video frames are sent in one burst with timestamps one clock tick apart,
// ending at the newest one (the anchor), so that the decoder decodes them
// all and shows only the last; later frames keep their real spacing from
// the anchor. Cached audio older than the anchor is skipped (audio frames
// need no reference), so sound starts in sync with the live picture.
//
// It returns the anchor, the video units to send compressed (in order) and
// the other units to send with the live mapping. ok is false when there is
// no backlog: the anchor is then the first unit that arrives.
func planBacklog(units []*media.Unit, videoIdx int, playable func(int) bool) (anchor time.Duration, compressed, live []*media.Unit, ok bool) {
	for _, u := range units {
		if u.Track == videoIdx && videoIdx >= 0 {
			compressed = append(compressed, u)
		}
	}
	switch {
	case len(compressed) > 0:
		anchor = compressed[len(compressed)-1].PTS
	case len(units) > 0:
		anchor = units[len(units)-1].PTS
	default:
		return 0, nil, nil, false
	}
	for _, u := range units {
		if u.Track != videoIdx && playable(u.Track) && u.PTS >= anchor {
			live = append(live, u)
		}
	}
	return anchor, compressed, live, true
}
