package hls

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Adaptive bitrate: /{app}/streams/{id}_adaptive.m3u8 is a multivariant
// playlist with one variant per rendition of the stream: the source, then
// its transcoded renditions ({id}_480p ...), tallest first. Each rendition
// is an ordinary stream of its own (its own muxer, played through
// Playback, so an edge pulls it like any stream); the adaptive playlist
// merges their multivariant playlists: every variant points to its
// rendition's own media playlists (a variant must name a media playlist,
// never another multivariant one), its audio group renamed per rendition.
// BANDWIDTH, RESOLUTION and CODECS are each muxer's own.

// adaptiveSuffix ends the id of an adaptive playlist request.
const adaptiveSuffix = "_adaptive"

// Renditions finds the renditions of a stream (the engine implements it).
type Renditions interface {
	// RenditionKeys returns the keys of key's renditions that are live,
	// tallest first; none when it has none.
	RenditionKeys(ctx context.Context, key stream.Key) ([]stream.Key, error)
}

// variantMuxer is one rendition of an adaptive playlist.
type variantMuxer struct {
	name string // group suffix: "source", or the rendition's key
	sm   *streamMuxer
}

// serveAdaptive answers /{app}/streams/{id}_adaptive.m3u8: 404 when the
// stream has no rendition ready.
func (s *Server) serveAdaptive(w http.ResponseWriter, r *http.Request, key stream.Key) {
	if s.cfg.Renditions == nil {
		notFound(w)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
	defer cancel()
	sm, err := s.playReady(ctx, r, key)
	if err != nil {
		s.playError(w, r, key, err)
		return
	}
	keys, err := s.cfg.Renditions.RenditionKeys(ctx, key)
	if err != nil {
		s.log.Warn("cannot list renditions", "stream", key.String(), "err", err)
		httpError(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	rends := make([]*streamMuxer, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			m, err := s.playReady(ctx, r, k)
			if err != nil {
				s.log.Debug("rendition left out of the adaptive playlist", "stream", k.String(), "err", err)
				return
			}
			rends[i] = m
		})
	}
	wg.Wait()
	vs := []variantMuxer{{name: "source", sm: sm}}
	for i, m := range rends {
		if m != nil {
			vs = append(vs, variantMuxer{name: string(keys[i].ID), sm: m})
		}
	}
	if len(vs) == 1 {
		notFound(w)
		return
	}
	body, err := mergeMultivariant(vs, r.URL.Query().Encode())
	if err != nil {
		s.log.Warn("cannot build the adaptive playlist", "stream", key.String(), "err", err)
		notFound(w) // a muxer closed meanwhile
		return
	}
	sm.viewers.touch(clientID(r), s.now())
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// playReady plays key for the requester of r and waits for its muxer.
func (s *Server) playReady(ctx context.Context, r *http.Request, key stream.Key) (*streamMuxer, error) {
	src, err := s.play.Play(ctx, ports.PlayRequest{
		Key: key, Protocol: "hls", Query: r.URL.Query(), RemoteAddr: r.RemoteAddr,
	})
	if err != nil {
		return nil, err
	}
	return s.waitReady(ctx, key, src)
}

// errMuxerClosed: a muxer closed while its playlist was read.
var errMuxerClosed = errors.New("muxer closed")

// mergeMultivariant joins the multivariant playlists of vs's muxers into
// one: media playlist URIs get their muxer's prefix, audio and video
// groups a suffix per rendition.
func mergeMultivariant(vs []variantMuxer, rawQuery string) ([]byte, error) {
	out := playlist.Multivariant{IndependentSegments: true}
	for _, v := range vs {
		res := v.sm.get("index.m3u8", rawQuery)
		if res.status != http.StatusOK {
			return nil, fmt.Errorf("%s: %w", v.name, errMuxerClosed)
		}
		var mv playlist.Multivariant
		if err := mv.Unmarshal(res.bytes()); err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		out.Version = max(out.Version, mv.Version)
		out.IndependentSegments = out.IndependentSegments && mv.IndependentSegments
		if out.Start == nil {
			out.Start = mv.Start
		}
		group := func(g string) string {
			if g == "" {
				return ""
			}
			return g + "_" + v.name
		}
		for _, rd := range mv.Renditions {
			c := *rd
			c.GroupID = group(rd.GroupID)
			if rd.URI != nil {
				u := v.sm.prefix + "_" + *rd.URI
				c.URI = &u
			}
			out.Renditions = append(out.Renditions, &c)
		}
		for _, va := range mv.Variants {
			c := *va
			c.URI = v.sm.prefix + "_" + va.URI
			c.Audio, c.Video = group(va.Audio), group(va.Video)
			out.Variants = append(out.Variants, &c)
		}
	}
	return out.Marshal()
}
