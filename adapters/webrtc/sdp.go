package webrtc

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pion/sdp/v3"
)

// errBadSDP is returned (wrapped) for an SDP the server cannot use.
var errBadSDP = errors.New("malformed SDP")

// sdpInfo is what the server needs to know of a session description.
type sdpInfo struct {
	media []mediaInfo
	// setup is the DTLS role attribute (RFC 5763's a=setup: "actpass",
	// "active" or "passive"), from the first section that has one, or
	// the session; "" when there is none.
	setup string
}

// mediaInfo describes one m= section.
type mediaInfo struct {
	kind      string // "audio", "video", "application" ...
	port      int
	direction string // "sendrecv", "sendonly", "recvonly" or "inactive"
	codecs    []codecInfo
}

// codecInfo is one payload format of an m= section, in offer order.
type codecInfo struct {
	pt   string
	name string // lower case: "h264", "vp8", "opus", "rtx" ...
	fmtp string
}

// parseSDP parses and checks a session description: it must parse and
// have at least one m= section.
func parseSDP(raw string) (sdpInfo, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(raw); err != nil {
		return sdpInfo{}, fmt.Errorf("%w: %w", errBadSDP, err)
	}
	if len(d.MediaDescriptions) == 0 {
		return sdpInfo{}, fmt.Errorf("%w: no media section", errBadSDP)
	}
	sessionDir := direction(d.Attributes, "sendrecv")
	var info sdpInfo
	if v, ok := d.Attribute("setup"); ok {
		info.setup = strings.ToLower(strings.TrimSpace(v))
	}
	for _, md := range d.MediaDescriptions {
		if md == nil {
			continue
		}
		m := mediaInfo{
			kind:      strings.ToLower(md.MediaName.Media),
			port:      md.MediaName.Port.Value,
			direction: direction(md.Attributes, sessionDir),
		}
		names := map[string]string{}
		fmtps := map[string]string{}
		for _, a := range md.Attributes {
			if a.Key == "setup" && info.setup == "" {
				info.setup = strings.ToLower(strings.TrimSpace(a.Value))
			}
			pt, rest, ok := strings.Cut(a.Value, " ")
			if !ok {
				continue
			}
			switch a.Key {
			case "rtpmap":
				name, _, _ := strings.Cut(rest, "/")
				names[pt] = strings.ToLower(strings.TrimSpace(name))
			case "fmtp":
				fmtps[pt] = strings.TrimSpace(rest)
			}
		}
		for _, pt := range md.MediaName.Formats {
			m.codecs = append(m.codecs, codecInfo{pt: pt, name: names[pt], fmtp: fmtps[pt]})
		}
		info.media = append(info.media, m)
	}
	return info, nil
}

func direction(attrs []sdp.Attribute, def string) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return def
}

// sends reports whether the described peer sends media of kind.
func (s sdpInfo) sends(kind string) bool {
	for _, m := range s.media {
		if m.kind == kind && m.port != 0 && (m.direction == "sendrecv" || m.direction == "sendonly") {
			return true
		}
	}
	return false
}

// receives reports whether the described peer receives media of kind.
func (s sdpInfo) receives(kind string) bool {
	for _, m := range s.media {
		if m.kind == kind && m.port != 0 && (m.direction == "sendrecv" || m.direction == "recvonly") {
			return true
		}
	}
	return false
}

// hasCodec reports whether a section of kind lists the codec (lower-case name).
func (s sdpInfo) hasCodec(kind, name string) bool {
	for _, m := range s.media {
		if m.kind != kind || m.port == 0 {
			continue
		}
		for _, c := range m.codecs {
			if c.name == name {
				return true
			}
		}
	}
	return false
}

// servedCodec reports whether the server registers a codec of this name
// (lower case) for media of kind: H.264 and VP8 video, Opus audio
// (videoCodecs, opusCodec). RTX, RED and FEC are not negotiated.
func servedCodec(kind, name string) bool {
	switch kind {
	case "video":
		return name == "h264" || name == "vp8"
	case "audio":
		return name == "opus"
	}
	return false
}

// rewriteOffer prepares an offer for pion, changing only its audio and
// video sections:
//   - It drops the payload formats of codecs the server does not register
//     (servedCodec), with their rtpmap, fmtp and rtcp-fb lines; a section
//     that would be left with none is kept whole (pion then rejects it, as
//     before). pion answers only the formats both sides have, so the
//     answer is the same. But pion matches every offered format against
//     every registered one, parsing their fmtp lines anew each time: a
//     browser's offer lists thirty-odd video formats (VP9, AV1, H.265,
//     each with its RTX, RED, ULPFEC), and that matching was about 40 % of
//     the server's CPU for a viewer's join (BenchmarkWHEPAnswer,
//     BENCHMARKS.md).
//   - With h264First (a publisher's offer), it puts the H.264 formats of
//     video sections first (packetization-mode=1 before the others),
//     keeping the order otherwise. Browsers send the first codec of the
//     answer, and pion answers in the offer's order: Chromium lists VP8
//     first, while Colony wants H.264, which HLS can package without
//     transcoding.
func rewriteOffer(raw string, info sdpInfo, h264First bool) string {
	lines := strings.SplitAfter(raw, "\n")
	out := make([]string, 0, len(lines))
	section := -1
	var drop map[string]bool // the formats dropped from the current section
	for _, line := range lines {
		if strings.HasPrefix(line, "m=") {
			section++
			drop = nil
			if section < len(info.media) {
				m := info.media[section]
				drop = unservedFormats(m)
				line = rewriteMLine(line, m, drop, h264First && m.kind == "video")
			}
		} else if len(drop) > 0 && drop[formatAttribute(line)] {
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "")
}

// unservedFormats lists the payload formats of m the server does not
// serve; nil when it serves none of them, or all of them.
func unservedFormats(m mediaInfo) map[string]bool {
	if m.kind != "audio" && m.kind != "video" {
		return nil
	}
	var drop map[string]bool
	served := false
	for _, c := range m.codecs {
		if servedCodec(m.kind, c.name) {
			served = true
			continue
		}
		if drop == nil {
			drop = map[string]bool{}
		}
		drop[c.pt] = true
	}
	if !served {
		return nil
	}
	return drop
}

// rewriteMLine removes the formats in drop from the "m=kind port proto
// fmt..." line of m and, with h264First, puts its H.264 formats first.
func rewriteMLine(line string, m mediaInfo, drop map[string]bool, h264First bool) string {
	if len(drop) == 0 && !h264First {
		return line
	}
	fields, rest := mLineFields(line)
	if len(fields) < 4 {
		return line
	}
	formats := fields[:3:3]
	for _, f := range fields[3:] {
		if !drop[f] {
			formats = append(formats, f)
		}
	}
	if h264First {
		rank := map[string]int{}
		for _, c := range m.codecs {
			switch {
			case c.name == "h264" && strings.Contains(c.fmtp, "packetization-mode=1"):
				rank[c.pt] = 0
			case c.name == "h264":
				rank[c.pt] = 1
			}
		}
		slices.SortStableFunc(formats[3:], func(a, b string) int {
			ra, ok := rank[a]
			if !ok {
				ra = 2
			}
			rb, ok := rank[b]
			if !ok {
				rb = 2
			}
			return ra - rb
		})
	}
	return strings.Join(formats, " ") + rest
}

// mLineFields splits an m= line as pion reads it: fields apart by spaces
// or tabs, up to the first CR or LF; rest is the line from there on.
func mLineFields(line string) (fields []string, rest string) {
	end := strings.IndexAny(line, "\r\n")
	if end < 0 {
		end = len(line)
	}
	return strings.FieldsFunc(line[:end], func(r rune) bool { return r == ' ' || r == '\t' }), line[end:]
}

// formatAttribute returns the payload format an a=rtpmap, a=fmtp or
// a=rtcp-fb line names ("*" for rtcp-fb's wildcard, which is no format,
// so that its lines stay; "" for any other line).
func formatAttribute(line string) string {
	for _, prefix := range []string{"a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"} {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			pt, _, _ := strings.Cut(rest, " ")
			return strings.TrimRight(pt, "\r\n")
		}
	}
	return ""
}

// leavesDTLSRole reports whether the offer leaves the DTLS role to the
// answerer (a=setup:actpass, or no a=setup, which RFC 5763 reads as
// actpass).
func (s sdpInfo) leavesDTLSRole() bool { return s.setup == "" || s.setup == "actpass" }
