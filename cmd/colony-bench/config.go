package main

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Viewer kinds.
const (
	modeHLS   = "hls"   // hls.js-like: whole segments, playlist polling
	modeLLHLS = "llhls" // Apple-like LL-HLS: blocking reloads, parts, preload hints
	modeWHEP  = "whep"  // WHEP (pion, NACK)
	modeWS    = "ws"    // Ant Media WebSocket signalling (pion, NACK)
)

var modes = []string{modeHLS, modeLLHLS, modeWHEP, modeWS}

// errConfig reports unusable flags.
var errConfig = errors.New("bad configuration")

// targets says where to publish and where each kind of viewer plays.
type targets struct {
	RTMP   string // publish URL; empty when someone else publishes
	HLS    string // playlist URL, for hls and llhls
	HLSRef string // reference playlist URL (the origin's) for the segment probe; empty: no probe
	WHEP   string // WHEP endpoint
	WS     string // Ant Media WebSocket URL
	Stream string // stream id for ws; default: the last element of RTMP
}

// playURL returns the URL a mode plays from.
func (t targets) playURL(mode string) (string, error) {
	var u string
	switch mode {
	case modeHLS, modeLLHLS:
		u = t.HLS
	case modeWHEP:
		u = t.WHEP
	case modeWS:
		u = t.WS
		if t.streamID() == "" {
			return "", fmt.Errorf("%w: ws needs --stream or --rtmp", errConfig)
		}
	default:
		return "", fmt.Errorf("%w: mode %q: want one of %s", errConfig, mode, strings.Join(modes, ", "))
	}
	if u == "" {
		return "", fmt.Errorf("%w: mode %s needs --%s", errConfig, mode, map[string]string{
			modeHLS: "hls", modeLLHLS: "hls", modeWHEP: "whep", modeWS: "ws"}[mode])
	}
	return u, nil
}

// check reports unusable target URLs that no run would reject on its own.
func (t targets) check() error {
	if t.HLSRef == "" {
		return nil
	}
	u, err := url.Parse(t.HLSRef)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: --hls-ref %q: want an http(s) playlist URL", errConfig, t.HLSRef)
	}
	return nil
}

// probes reports whether a run of mode gets the segment probe.
func (t targets) probes(mode string) bool {
	return t.HLSRef != "" && (mode == modeHLS || mode == modeLLHLS)
}

func (t targets) streamID() string {
	if t.Stream != "" {
		return t.Stream
	}
	if t.RTMP == "" {
		return ""
	}
	id := path.Base(strings.SplitN(t.RTMP, "?", 2)[0])
	if id == "." || id == "/" {
		return ""
	}
	return id
}

// timing is how a run unfolds: viewers join over Ramp, settle for Warmup,
// then are measured for Duration.
type timing struct {
	Duration time.Duration
	Warmup   time.Duration
	Ramp     time.Duration // 0: 10 ms per viewer, at most 5 s
}

func (t timing) ramp(n int) time.Duration {
	if t.Ramp > 0 {
		return t.Ramp
	}
	return min(time.Duration(n)*10*time.Millisecond, 5*time.Second)
}

// step is one run of a matrix: a mode and a number of viewers.
type step struct {
	Mode    string
	Viewers int
}

// parseSteps reads "hls:1,llhls:50,whep:10".
func parseSteps(s string) ([]step, error) {
	var out []step
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		m, n, ok := strings.Cut(f, ":")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("%w: run %q: want MODE:VIEWERS", errConfig, f)
		}
		out = append(out, step{Mode: m, Viewers: v})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no runs", errConfig)
	}
	return out, nil
}
