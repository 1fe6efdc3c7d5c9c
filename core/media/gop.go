package media

// GOP keeps a stream's units since its last keyframe, within bounds, so
// that a reader starting later begins at a keyframe with an immediate
// picture: the Stream's own cache, and that of anything that passes a
// stream's units on and must give joiners exactly what it has passed (a
// WebRTC fan-out). Audio-only streams, where every unit is a keyframe,
// restart the cache every half reader queue, so that a new reader gets a
// short recent backlog. A GOP is not safe for concurrent use.
type GOP struct {
	tracks   []Track
	hasVideo bool
	cfg      StreamConfig
	units    []*Unit
	bytes    int
	valid    bool // units start at a keyframe and are within bounds
}

func newGOP(tracks []Track, cfg StreamConfig) GOP {
	g := GOP{tracks: tracks, cfg: cfg}
	for _, t := range tracks {
		if t.IsVideo() {
			g.hasVideo = true
		}
	}
	return g
}

// NewGOP returns an empty cache for the stream's units, bounded as the
// stream's own.
func (s *Stream) NewGOP() *GOP {
	g := newGOP(s.tracks, s.cfg)
	return &g
}

// IsKey reports whether a reader may start (or resume) at u: a video
// keyframe, or any unit of a stream without video.
func (g *GOP) IsKey(u *Unit) bool {
	if !g.hasVideo {
		return true
	}
	return u.Key && g.tracks[u.Track].IsVideo()
}

// Add keeps u, which follows the units added before.
func (g *GOP) Add(u *Unit) { g.add(u, g.IsKey(u)) }

func (g *GOP) add(u *Unit, key bool) {
	if key && (g.hasVideo || !g.valid || len(g.units) >= g.cfg.QueueSize/2) {
		g.Clear()
		g.valid = true
	}
	if !g.valid {
		return
	}
	if len(g.units) >= g.cfg.MaxGOPUnits || g.bytes+len(u.Data) > g.cfg.MaxGOPBytes {
		g.Clear() // too long to replay: readers wait for the next keyframe
		return
	}
	g.units = append(g.units, u)
	g.bytes += len(u.Data)
}

// Units returns the units kept, from a keyframe on (none when the GOP
// ran past its bounds). The slice is the cache's own, valid until the
// next Add or Clear: callers that keep it copy it.
func (g *GOP) Units() []*Unit { return g.units }

// Clear forgets the units kept; the next keyframe starts the cache again.
func (g *GOP) Clear() {
	clear(g.units)
	g.units, g.bytes, g.valid = g.units[:0], 0, false
}
