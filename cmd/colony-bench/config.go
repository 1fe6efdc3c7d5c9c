package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
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
	// Churn, when set, makes each viewer leave after a lifetime in its
	// range, a new one taking its place at once: Viewers is then the
	// audience, kept up by a stream of joins and departures.
	Churn churn
}

// name is how results and errors name the step: MODE:VIEWERS[@CHURN].
func (st step) name() string {
	c := ""
	if st.Churn.on() {
		c = st.Churn.String()
	}
	return runName(st.Mode, st.Viewers, c)
}

// runName is MODE:VIEWERS, and @CHURN when churn is not empty.
func runName(mode string, viewers int, churn string) string {
	n := fmt.Sprintf("%s:%d", mode, viewers)
	if churn != "" {
		n += "@" + churn
	}
	return n
}

// churn is the range of a churning viewer's lifetime.
type churn struct {
	Min, Max time.Duration
}

func (c churn) on() bool { return c.Max > 0 }

func (c churn) String() string {
	if c.Min == c.Max {
		return c.Min.String()
	}
	return c.Min.String() + "-" + c.Max.String()
}

// lifetime draws a lifetime, uniform in [Min, Max].
func (c churn) lifetime(r *rand.Rand) time.Duration {
	if c.Max <= c.Min {
		return c.Min
	}
	return c.Min + time.Duration(r.Int64N(int64(c.Max-c.Min)+1))
}

// parseChurn reads "5s-15s" or "10s".
func parseChurn(s string) (churn, error) {
	lo, hi, ranged := strings.Cut(s, "-")
	if !ranged {
		hi = lo
	}
	shortest, err1 := time.ParseDuration(lo)
	longest, err2 := time.ParseDuration(hi)
	if err1 != nil || err2 != nil || shortest <= 0 || longest < shortest {
		return churn{}, fmt.Errorf("%w: churn %q: want a lifetime like 10s or a range like 5s-15s", errConfig, s)
	}
	return churn{Min: shortest, Max: longest}, nil
}

// parseSteps reads "hls:1,llhls:50,whep:10,whep:100@5s-15s".
func parseSteps(s string) ([]step, error) {
	var out []step
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		f, lives, churning := strings.Cut(f, "@")
		m, n, ok := strings.Cut(f, ":")
		v, err := strconv.Atoi(n)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("%w: run %q: want MODE:VIEWERS or MODE:VIEWERS@LIFETIME", errConfig, f)
		}
		st := step{Mode: m, Viewers: v}
		if churning {
			if st.Churn, err = parseChurn(lives); err != nil {
				return nil, err
			}
		}
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no runs", errConfig)
	}
	return out, nil
}
