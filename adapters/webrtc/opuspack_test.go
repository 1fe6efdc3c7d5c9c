package webrtc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/colony-live/colony/adapters/webrtc/client"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	"github.com/pion/rtp"
)

// splitOpus returns the frames of an Opus packet, each with the packet's
// TOC byte made a single frame's (code 0), following RFC 6716 section 3.2
// on its own (the test's reading, not the packer's writing).
func splitOpus(pkt []byte) ([][]byte, error) {
	if len(pkt) == 0 {
		return nil, errors.New("empty packet")
	}
	toc, body := pkt[0]&^3, pkt[1:]
	single := func(b []byte) []byte { return append([]byte{toc}, b...) }
	length := func(b []byte) (int, int, error) {
		switch {
		case len(b) == 0:
			return 0, 0, errors.New("missing frame length")
		case b[0] < 252:
			return int(b[0]), 1, nil
		case len(b) < 2:
			return 0, 0, errors.New("short two-byte frame length")
		default:
			return int(b[1])*4 + int(b[0]), 2, nil
		}
	}
	switch pkt[0] & 3 {
	case 0:
		return [][]byte{single(body)}, nil
	case 1:
		if len(body)%2 != 0 {
			return nil, errors.New("code 1 with an odd length")
		}
		return [][]byte{single(body[:len(body)/2]), single(body[len(body)/2:])}, nil
	case 2:
		n, k, err := length(body)
		if err != nil || k+n > len(body) {
			return nil, fmt.Errorf("code 2: bad first length (%v)", err)
		}
		return [][]byte{single(body[k : k+n]), single(body[k+n:])}, nil
	}
	if len(body) == 0 {
		return nil, errors.New("code 3 without a frame count")
	}
	vbr, padded, m := body[0]&0x80 != 0, body[0]&0x40 != 0, int(body[0]&0x3f)
	body = body[1:]
	if m == 0 || padded {
		return nil, fmt.Errorf("code 3 with %d frames, padding %v (the packer writes neither)", m, padded)
	}
	lens := make([]int, m)
	if vbr {
		for i := range m - 1 {
			n, k, err := length(body)
			if err != nil {
				return nil, err
			}
			lens[i], body = n, body[k:]
		}
		rest := len(body)
		for _, n := range lens[:m-1] {
			rest -= n
		}
		if rest < 0 {
			return nil, errors.New("code 3: frame lengths past the packet")
		}
		lens[m-1] = rest
	} else {
		if len(body)%m != 0 {
			return nil, errors.New("code 3 CBR: length not a multiple of the count")
		}
		for i := range lens {
			lens[i] = len(body) / m
		}
	}
	var frames [][]byte
	for _, n := range lens {
		if n > opusMaxFrameBytes {
			return nil, fmt.Errorf("a frame of %d bytes", n)
		}
		frames, body = append(frames, single(body[:n])), body[n:]
	}
	return frames, nil
}

func TestOpusFrameDuration(t *testing.T) {
	tests := []struct {
		config int
		want   time.Duration
	}{
		{0, 10 * time.Millisecond}, {1, 20 * time.Millisecond}, {2, 40 * time.Millisecond}, {3, 60 * time.Millisecond}, // SILK NB
		{11, 60 * time.Millisecond},
		{12, 10 * time.Millisecond}, {13, 20 * time.Millisecond}, {15, 20 * time.Millisecond}, // hybrid
		{16, 2500 * time.Microsecond}, {19, 20 * time.Millisecond}, {31, 20 * time.Millisecond}, // CELT
	}
	for _, tt := range tests {
		for _, stereo := range []byte{0, 4} {
			pkt := []byte{byte(tt.config<<3) | stereo, 1, 2, 3}
			got, ok := opusFrame(pkt)
			if !ok || got != tt.want {
				t.Errorf("config %d: %v %v, want %v", tt.config, got, ok, tt.want)
			}
			// mediacommon's reading of the same TOC byte agrees.
			if d := opus.PacketDuration(pkt); d != tt.want {
				t.Errorf("config %d: mediacommon says %v", tt.config, d)
			}
		}
	}
	for name, pkt := range map[string][]byte{
		"empty":    nil,
		"code 1":   {0xf9, 1, 2},
		"code 3":   {0xfb, 0x02, 1, 2},
		"too long": append([]byte{0xf8}, make([]byte, opusMaxFrameBytes+1)...),
	} {
		if _, ok := opusFrame(pkt); ok {
			t.Errorf("%s: taken for a single frame", name)
		}
	}
}

// frameOf is a single-frame Opus packet (CELT fullband 20 ms) of n bytes
// after the TOC byte, filled with b.
func frameOf(n int, b byte) []byte {
	return append([]byte{31 << 3}, bytes.Repeat([]byte{b}, n)...)
}

func TestAppendPacked(t *testing.T) {
	tests := []struct {
		name   string
		frames [][]byte
		// wantHeader is the bytes after the TOC: the count (and VBR
		// bit), then the lengths.
		wantHeader []byte
	}{
		{"equal frames: CBR, no lengths", [][]byte{frameOf(160, 1), frameOf(160, 2), frameOf(160, 3)}, []byte{3}},
		{"VBR, short lengths", [][]byte{frameOf(100, 1), frameOf(120, 2), frameOf(90, 3)}, []byte{0x83, 100, 120}},
		{"VBR, two-byte lengths", [][]byte{frameOf(251, 1), frameOf(252, 2), frameOf(700, 3), frameOf(5, 4)}, []byte{0x84, 251, 252, 0, 252, 112}},
		{"empty frames (DTX)", [][]byte{frameOf(0, 0), frameOf(0, 0)}, []byte{2}},
		{"the largest frames", [][]byte{frameOf(opusMaxFrameBytes, 1), frameOf(1, 2)}, []byte{0x82, 255, 255}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := appendPacked([]byte("prefix"), tt.frames)
			if !bytes.HasPrefix(pkt, []byte("prefix")) {
				t.Fatal("appendPacked did not append")
			}
			pkt = pkt[len("prefix"):]
			if pkt[0] != tt.frames[0][0]|3 {
				t.Fatalf("TOC %#x, want %#x", pkt[0], tt.frames[0][0]|3)
			}
			if h := pkt[1 : 1+len(tt.wantHeader)]; !bytes.Equal(h, tt.wantHeader) {
				t.Fatalf("header % x, want % x", h, tt.wantHeader)
			}
			got, err := splitOpus(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tt.frames, bytes.Equal) {
				t.Fatalf("the packet's frames are not the frames packed")
			}
			if d, want := opus.PacketDuration(pkt), time.Duration(len(tt.frames))*20*time.Millisecond; d != want {
				t.Fatalf("mediacommon reads %v, want %v", d, want)
			}
		})
	}
}

// opusUnits makes units of frames 20 ms apart from PTS 0.
func opusUnits(frames ...[]byte) []*media.Unit {
	us := make([]*media.Unit, len(frames))
	for i, f := range frames {
		pts := time.Duration(i) * 20 * time.Millisecond
		us[i] = &media.Unit{PTS: pts, DTS: pts, Key: true, Data: f}
	}
	return us
}

func TestOpusPacker(t *testing.T) {
	small := func(b byte) []byte { return frameOf(100, b) }
	silk10 := append([]byte{0 << 3}, 1, 2, 3) // a 10 ms frame
	twoFrames := []byte{31<<3 | 1, 7, 7}      // code 1: sent as it is
	stereo := append([]byte{31<<3 | 4}, 9, 9) // another TOC byte
	tests := []struct {
		name  string
		max   time.Duration
		units []*media.Unit
		pack  func(i int) bool // by unit index; nil: always
		// want lists, for each packet sent (what is held at the end
		// flushed), the indexes of its units; the packets sent after
		// each push are checked too (sentAfter).
		want      [][]int
		sentAfter []int // packets sent in all after each push
	}{
		{name: "three frames a packet", max: 60 * time.Millisecond,
			units: opusUnits(small(0), small(1), small(2), small(3), small(4), small(5), small(6)),
			want:  [][]int{{0, 1, 2}, {3, 4, 5}, {6}}, sentAfter: []int{0, 0, 1, 1, 1, 2, 2}},
		{name: "two frames a packet at 40 ms", max: 40 * time.Millisecond,
			units: opusUnits(small(0), small(1), small(2), small(3)),
			want:  [][]int{{0, 1}, {2, 3}}, sentAfter: []int{0, 1, 1, 2}},
		{name: "small audience: as they come", max: 60 * time.Millisecond,
			units: opusUnits(small(0), small(1), small(2)), pack: func(int) bool { return false },
			want: [][]int{{0}, {1}, {2}}, sentAfter: []int{1, 2, 3}},
		{name: "packing off: what is held goes first", max: 60 * time.Millisecond,
			units: opusUnits(small(0), small(1), small(2), small(3)), pack: func(i int) bool { return i < 2 },
			want: [][]int{{0, 1}, {2}, {3}}, sentAfter: []int{0, 0, 2, 3}},
		{name: "a packet of two frames is sent as it is", max: 60 * time.Millisecond,
			units: opusUnits(small(0), twoFrames, small(2), small(3), small(4)),
			want:  [][]int{{0}, {1}, {2, 3, 4}}, sentAfter: []int{0, 2, 2, 2, 3}},
		{name: "another TOC byte starts a packet", max: 60 * time.Millisecond,
			units: opusUnits(small(0), small(1), stereo, stereo, stereo),
			want:  [][]int{{0, 1}, {2, 3, 4}}, sentAfter: []int{0, 0, 1, 1, 2}},
		{name: "frames that do not follow in time start a packet", max: 60 * time.Millisecond,
			units: func() []*media.Unit {
				us := opusUnits(small(0), small(1), small(2), small(3), small(4))
				for _, u := range us[2:] {
					u.PTS += 100 * time.Millisecond // a gap (DTX, a skip)
				}
				return us
			}(),
			want: [][]int{{0, 1}, {2, 3, 4}}, sentAfter: []int{0, 0, 1, 1, 2}},
		{name: "jitter under a quarter frame is followed", max: 60 * time.Millisecond,
			units: func() []*media.Unit {
				us := opusUnits(small(0), small(1), small(2))
				us[1].PTS += 4 * time.Millisecond
				us[2].PTS += 1 * time.Millisecond // 17 ms after the previous one
				return us
			}(),
			want: [][]int{{0, 1, 2}}, sentAfter: []int{0, 0, 1}},
		{name: "payload bound", max: 60 * time.Millisecond,
			units: opusUnits(frameOf(500, 0), frameOf(500, 1), frameOf(500, 2), frameOf(500, 3)),
			want:  [][]int{{0, 1}, {2, 3}}, sentAfter: []int{0, 0, 1, 1}},
		{name: "10 ms frames: six a packet", max: 60 * time.Millisecond,
			units: func() []*media.Unit {
				us := opusUnits(silk10, silk10, silk10, silk10, silk10, silk10, silk10)
				for i, u := range us {
					u.PTS = time.Duration(i) * 10 * time.Millisecond
				}
				return us
			}(),
			want: [][]int{{0, 1, 2, 3, 4, 5}, {6}}, sentAfter: []int{0, 0, 0, 0, 0, 1, 1}},
		{name: "frames as long as the packet are sent as they are", max: 40 * time.Millisecond,
			units: opusUnits([]byte{2 << 3, 1}, []byte{2 << 3, 2}), // SILK 40 ms
			want:  [][]int{{0}, {1}}, sentAfter: []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newOpusPacker(tt.max, rtpMTU)
			var sent []*media.Unit
			for i, u := range tt.units {
				u.Track, u.Ingest = 3, time.Unix(int64(i), 0)
				pack := tt.pack == nil || tt.pack(i)
				sent = p.push(u, pack, sent)
				if len(sent) != tt.sentAfter[i] {
					t.Fatalf("after unit %d: %d packets sent, want %d", i, len(sent), tt.sentAfter[i])
				}
			}
			sent = p.flush(sent)
			if len(sent) != len(tt.want) {
				t.Fatalf("%d packets, want %d", len(sent), len(tt.want))
			}
			for k, idx := range tt.want {
				got := sent[k]
				if len(idx) == 1 {
					if got != tt.units[idx[0]] {
						t.Fatalf("packet %d is not unit %d as it came", k, idx[0])
					}
					continue
				}
				first, last := tt.units[idx[0]], tt.units[idx[len(idx)-1]]
				if got.Track != 3 || got.PTS != first.PTS || got.DTS != first.DTS || !got.Key || !got.Ingest.Equal(last.Ingest) {
					t.Fatalf("packet %d: track %d PTS %v DTS %v key %v ingest %v; want the first frame's times and the last's ingest",
						k, got.Track, got.PTS, got.DTS, got.Key, got.Ingest)
				}
				if len(got.Data) > rtpMTU {
					t.Fatalf("packet %d is %d bytes, past %d", k, len(got.Data), rtpMTU)
				}
				frames, err := splitOpus(got.Data)
				if err != nil {
					t.Fatalf("packet %d: %v", k, err)
				}
				var want [][]byte
				for _, i := range idx {
					want = append(want, tt.units[i].Data)
				}
				if !slices.EqualFunc(frames, want, bytes.Equal) {
					t.Fatalf("packet %d does not hold units %v", k, idx)
				}
			}
		})
	}
}

// FuzzOpusPacker: whatever comes, what the packer sends holds every frame
// it took, in order, each packet a valid Opus packet within the bounds.
func FuzzOpusPacker(f *testing.F) {
	f.Add([]byte{0xf8, 1, 2, 0xf8, 3, 0xf8, 4, 5, 6, 0xf8}, uint8(3), uint16(0x00ff))
	f.Add([]byte{0x00, 0x01, 0x02, 0xf9, 0x03}, uint8(6), uint16(0xfff0))
	f.Fuzz(func(t *testing.T, data []byte, maxFrames uint8, packMask uint16) {
		maxDur := time.Duration(2+maxFrames%5) * 20 * time.Millisecond
		p := newOpusPacker(maxDur, 200)
		var in []*media.Unit
		var sent []*media.Unit
		pts := time.Duration(0)
		// Cut data into packets: each packet's length is its first
		// byte's low bits.
		for i := 0; len(data) > 0 && i < 200; i++ {
			n := min(len(data), 1+int(data[0]&0x3f))
			u := &media.Unit{PTS: pts, Key: true, Data: data[:n]}
			data = data[n:]
			if d, ok := opusFrame(u.Data); ok {
				pts += d
			} else {
				pts += 20 * time.Millisecond
			}
			in = append(in, u)
			sent = p.push(u, packMask&(1<<(i%16)) != 0, sent)
		}
		sent = p.flush(sent)
		k := 0 // next unit taken
		for _, s := range sent {
			if k < len(in) && s == in[k] {
				k++
				continue
			}
			frames, err := splitOpus(s.Data)
			if err != nil {
				t.Fatalf("a packet sent does not parse: %v (% x)", err, s.Data)
			}
			if len(frames) < 2 || len(s.Data) > 200 {
				t.Fatalf("a packed packet of %d frames, %d bytes", len(frames), len(s.Data))
			}
			var dur time.Duration
			for _, fr := range frames {
				if k >= len(in) || !bytes.Equal(fr, in[k].Data) {
					t.Fatalf("packed frames out of order or changed")
				}
				d, _ := opusFrame(fr)
				dur += d
				k++
			}
			if dur > maxDur {
				t.Fatalf("a packet of %v, past %v", dur, maxDur)
			}
		}
		if k != len(in) {
			t.Fatalf("%d units taken, %d sent", len(in), k)
		}
	})
}

// libopusPackets encodes 2 s of a tone with libopus (ffmpeg's args after
// the input) and returns its packets, one an Ogg page.
func libopusPackets(t *testing.T, args ...string) [][]byte {
	t.Helper()
	needFFmpeg(t)
	path := filepath.Join(t.TempDir(), "tone.ogg")
	cmd := append([]string{"-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2"}, args...)
	cmd = append(cmd, "-c:a", "libopus", "-page_duration", "20000", "-vn", path)
	if out, err := exec.Command("ffmpeg", cmd...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return readOggPackets(t, path)
}

// decodePCM writes Opus packets (their RTP timestamps from their PTS) to
// an Ogg file and decodes it with ffmpeg to 16-bit PCM; any decoder
// message fails the test.
func decodePCM(t *testing.T, us []*media.Unit) []byte {
	t.Helper()
	pkts := make([]*rtp.Packet, len(us))
	for i, u := range us {
		pkts[i] = &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(rtpTicks(u.PTS, 48000))}, Payload: u.Data}
	}
	path := writeOgg(t, pkts, 1)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "s16le", "-ac", "1", "-")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg could not decode: %v\n%s", err, stderr.String())
	}
	return stdout.Bytes()
}

// TestOpusPackingDecodes: libopus's own packets (small and large VBR
// frames, CBR frames) packed three a packet decode with ffmpeg to the
// very samples the packets one a frame decode to.
func TestOpusPackingDecodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"VBR 64 kbit/s", []string{"-b:a", "64k"}},
		{"VBR 160 kbit/s: two-byte lengths, some packets of two", []string{"-b:a", "160k"}},
		{"CBR", []string{"-b:a", "64k", "-vbr", "off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkts := libopusPackets(t, tc.args...)
			if len(pkts) < 90 {
				t.Fatalf("%d packets from libopus", len(pkts))
			}
			var frames []*media.Unit
			for i, b := range pkts {
				if _, ok := opusFrame(b); !ok {
					t.Fatalf("libopus packet %d is not a single frame (TOC %#x)", i, b[0])
				}
				pts := time.Duration(i) * 20 * time.Millisecond
				frames = append(frames, &media.Unit{PTS: pts, DTS: pts, Key: true, Data: b})
			}
			p := newOpusPacker(60*time.Millisecond, rtpMTU)
			var packed []*media.Unit
			for _, u := range frames {
				packed = p.push(u, true, packed)
			}
			packed = p.flush(packed)
			n := 0
			for _, u := range packed {
				if d := opus.PacketDuration(u.Data); d > 20*time.Millisecond {
					n++
				}
			}
			t.Logf("%d frames in %d packets (%d of several frames)", len(frames), len(packed), n)
			if n < len(packed)/2 {
				t.Fatalf("only %d of %d packets hold several frames", n, len(packed))
			}
			one, many := decodePCM(t, frames), decodePCM(t, packed)
			// The Ogg pages' granules differ at the very end (a page's
			// granule is where its packet ends): compare up to the shorter.
			k := min(len(one), len(many))
			if diff := len(one) - len(many); diff < -2*2880 || diff > 2*2880 {
				t.Fatalf("decoded %d and %d bytes", len(one), len(many))
			}
			if k < 48000 || !bytes.Equal(one[:k], many[:k]) {
				t.Fatalf("the packed packets decode to other samples (%d bytes compared)", k)
			}
		})
	}
}

// TestOpusPackedForAudience: a stream's Opus companion goes to a viewer a
// frame a packet; once a second viewer makes the audience
// (AudioPackViewers: 2), three frames a packet, to both; and a frame a
// packet again when it leaves. The first viewer's audio misses no frame
// and repeats none across the switches, its RTP timestamps follow the
// frames' PTS, and ffmpeg decodes it.
func TestOpusPackedForAudience(t *testing.T) {
	fx := loadH264Fixture(t, 3)
	frames := loadOpusPackets(t, "3")
	src, companion := companionStreams(t, fx)
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return src, nil }}
	s, hs := newTestServer(t, Config{AudioPackViewers: 2, Audio: serveCompanion(companion)}, fakeIngest{publish: noPublish}, play)
	if s.cfg.AudioPack != 60*time.Millisecond {
		t.Fatalf("default AudioPack %v, want 60ms", s.cfg.AudioPack)
	}
	feed := newCompanionFeed(fx, frames, src, companion)
	const gop = 30
	feed.until(gop)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, aAudio := playRecording(ctx, t, hs.URL)
	defer a.Close()
	waitFor(t, "the viewer's companion reader", 5*time.Second, func() bool { return companion.Readers() == 1 })
	if s.Stats().AudioPacked {
		t.Fatal("audio packed for one viewer")
	}
	feed.until(50)

	b, _ := playRecording(ctx, t, hs.URL)
	if !s.Stats().AudioPacked {
		t.Fatal("audio not packed for two viewers")
	}
	feed.until(70)
	if err := b.WaitFrames(ctx, 10); err != nil {
		t.Fatal(err)
	}
	b.Close()
	waitFor(t, "packing off with one viewer", 5*time.Second, func() bool { return !s.Stats().AudioPacked })
	feed.until(len(fx.aus))
	if err := a.WaitFrames(ctx, len(fx.aus)-gop); err != nil {
		t.Fatal(err)
	}
	// The last frame fed is sent a frame a packet: wait for it.
	last := feed.sentAudio() - 1
	waitFor(t, "the audio", 10*time.Second, func() bool {
		got := aAudio()
		return len(got) > 0 && bytes.Equal(got[len(got)-1].Payload, frames[last])
	})
	got := aAudio()
	first, next := checkFrames(t, "first viewer", got, frames)
	if want := int((gop-1)*fixtureFrameDur/opusPacketDur) + 1; first != want { // the first at or after the first picture
		t.Fatalf("the first viewer's audio starts at frame %d, want %d", first, want)
	}
	if next != last+1 {
		t.Fatalf("frames %d to %d received, want to %d", first, next-1, last)
	}
	durs := map[time.Duration]int{}
	for _, p := range got {
		durs[opus.PacketDuration(p.Payload)]++
	}
	t.Logf("packets by duration: %v", durs)
	if durs[60*time.Millisecond] < 5 || durs[20*time.Millisecond] < 5 {
		t.Fatalf("packets by duration %v: want 20 ms packets alone, 60 ms packets for two", durs)
	}
	if !packedBetween(got) {
		t.Fatal("the packed packets are not between the packets of single frames (one viewer, two, one)")
	}
	if d := decodeOpus(t, got); d < time.Duration(last-first)*opusPacketDur-oggPreSkip {
		t.Fatalf("ffmpeg decoded %v of audio", d)
	}
}

// playRecording plays the test stream over WHEP and records its audio
// packets; the function returns a copy of those received so far.
func playRecording(ctx context.Context, t *testing.T, base string) (*client.Player, func() []*rtp.Packet) {
	t.Helper()
	var mu sync.Mutex
	var audio []*rtp.Packet
	pl, err := client.Play(ctx, base+"/LiveApp/whep/cam1", client.PlayOptions{Options: client.Options{Logger: testLogger()},
		OnAudioPacket: func(p *rtp.Packet, _ time.Time) {
			mu.Lock()
			audio = append(audio, p.Clone())
			mu.Unlock()
		}})
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	return pl, func() []*rtp.Packet {
		mu.Lock()
		defer mu.Unlock()
		return append([]*rtp.Packet(nil), audio...)
	}
}

// checkFrames checks that pkts hold consecutive frames of frames, each
// once, and that each packet's RTP timestamp is its first frame's (960
// ticks a frame); it returns the first frame's index and the one after
// the last.
func checkFrames(t *testing.T, who string, pkts []*rtp.Packet, frames [][]byte) (first, next int) {
	t.Helper()
	if len(pkts) == 0 {
		t.Fatalf("%s: no audio", who)
	}
	fs, err := splitOpus(pkts[0].Payload)
	if err != nil {
		t.Fatalf("%s: packet 0: %v", who, err)
	}
	first = slices.IndexFunc(frames, func(f []byte) bool { return bytes.Equal(f, fs[0]) })
	if first < 0 {
		t.Fatalf("%s: the first packet's frame is none of the stream's", who)
	}
	next = first
	for i, p := range pkts {
		fs, err := splitOpus(p.Payload)
		if err != nil {
			t.Fatalf("%s: packet %d: %v", who, i, err)
		}
		if d := p.Timestamp - pkts[0].Timestamp; d != uint32((next-first)*960) {
			t.Fatalf("%s: packet %d (frame %d) is %d ticks after the first, want %d", who, i, next, d, (next-first)*960)
		}
		for _, f := range fs {
			if next >= len(frames) || !bytes.Equal(f, frames[next]) {
				t.Fatalf("%s: packet %d: a frame that is not frame %d (one missed, repeated or changed)", who, i, next)
			}
			next++
		}
	}
	return first, next
}

// TestOpusPackedJoiner: a stream with an Opus track of its own (a WebRTC
// publication), packed for its audience of two; a third viewer joins
// while a frame waits in the packer, and gets every frame from its
// first picture on once: the held frame comes in the packet that holds
// it, not also alone in its start-up burst.
func TestOpusPackedJoiner(t *testing.T) {
	fx := loadH264Fixture(t, 3)
	frames := loadOpusPackets(t, "3")
	st := media.NewStream([]media.Track{
		{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps, Width: 320, Height: 240},
		{Codec: media.Opus, ClockRate: 48000, SampleRate: 48000, Channels: 2},
	}, media.StreamConfig{})
	t.Cleanup(st.Close)
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	s, hs := newTestServer(t, Config{AudioPackViewers: 2}, fakeIngest{publish: noPublish}, play)
	video, audio := 0, 0 // units written
	until := func(n int) {
		for ; video < n; video++ {
			u := fx.unit(video)
			st.Write(u)
			// The audio runs up to a frame ahead of the video.
			for ; audio < len(frames) && time.Duration(audio)*opusPacketDur <= u.PTS+opusPacketDur; audio++ {
				pts := time.Duration(audio) * opusPacketDur
				st.Write(&media.Unit{Track: 1, PTS: pts, DTS: pts, Key: true, Data: frames[audio]})
			}
			time.Sleep(fixtureFrameDur / 3)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	until(5) // audio frames 0-7, sent one a packet
	a, _ := playRecording(ctx, t, hs.URL)
	defer a.Close()
	b, _ := playRecording(ctx, t, hs.URL)
	defer b.Close()
	if err := b.WaitFrames(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if !s.Stats().AudioPacked {
		t.Fatal("audio not packed for two viewers")
	}
	// To video frame 39 (a keyframe at 30), audio frame 65: frames 8 to
	// 64 go in 19 packets, and 65 waits for 66 and 67.
	until(40)
	c, cAudio := playRecording(ctx, t, hs.URL)
	defer c.Close()
	if err := c.WaitFrames(ctx, 5); err != nil {
		t.Fatal(err)
	}
	until(len(fx.aus)) // to audio frame 149: the last packet sent ends with 148
	lastSent := frames[audio-2]
	waitFor(t, "the joiner's audio", 5*time.Second, func() bool {
		got := cAudio()
		if len(got) == 0 {
			return false
		}
		fs, err := splitOpus(got[len(got)-1].Payload)
		return err == nil && bytes.Equal(fs[len(fs)-1], lastSent)
	})
	first, next := checkFrames(t, "joiner", cAudio(), frames)
	t.Logf("the joiner got audio frames %d to %d, each once", first, next-1)
	// Its first picture is video frame 39 (1300 ms less a rounding): the
	// audio starts with the first packet at or after it, 65-67.
	if first != 65 {
		t.Fatalf("the joiner's audio starts at frame %d, want 65", first)
	}
}

// packedBetween reports whether pkts are frames one a packet, then
// packets of several frames (a frame or two alone may end them), then one
// a packet again.
func packedBetween(pkts []*rtp.Packet) bool {
	phase := 0
	for _, p := range pkts {
		many := opus.PacketDuration(p.Payload) > opusPacketDur
		switch {
		case phase == 0 && many, phase == 1 && !many:
			phase++
		case phase == 2 && many:
			return false
		}
	}
	return phase == 2
}
