package rest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"github.com/colony-live/colony/core/stream"
)

// BroadcastStatistics is Ant Media's BroadcastStatistics JSON: the current
// viewers of a stream per protocol.
type BroadcastStatistics struct {
	TotalRTMPWatchersCount   int `json:"totalRTMPWatchersCount"`
	TotalHLSWatchersCount    int `json:"totalHLSWatchersCount"`
	TotalWebRTCWatchersCount int `json:"totalWebRTCWatchersCount"`
	TotalDASHWatchersCount   int `json:"totalDASHWatchersCount"`
}

func (a *BroadcastStatistics) add(b BroadcastStatistics) {
	a.TotalRTMPWatchersCount += b.TotalRTMPWatchersCount
	a.TotalHLSWatchersCount += b.TotalHLSWatchersCount
	a.TotalWebRTCWatchersCount += b.TotalWebRTCWatchersCount
	a.TotalDASHWatchersCount += b.TotalDASHWatchersCount
}

// ViewerCounter counts this node's own viewers of a stream per protocol
// ("hls", "webrtc", "rtmp"); the engine implements it.
type ViewerCounter interface {
	ViewerCounts(key stream.Key) map[string]int
}

// ScopeHeader set to "local" on a forwarded broadcast-statistics call asks
// a node for its own viewers only.
const ScopeHeader = "X-Colony-Scope"

// localStatistics returns this node's own viewers of key.
func (s *Server) localStatistics(key stream.Key) BroadcastStatistics {
	if s.cfg.Viewers == nil {
		return BroadcastStatistics{}
	}
	per := s.cfg.Viewers.ViewerCounts(key)
	return BroadcastStatistics{TotalRTMPWatchersCount: per["rtmp"], TotalHLSWatchersCount: per["hls"], TotalWebRTCWatchersCount: per["webrtc"]}
}

// broadcastStatistics answers GET /{app}/rest/v2/broadcasts/{id}/broadcast-statistics.
// With Config.Viewers, a live stream's viewers are counted now: on a
// cluster node (where the stream's origin answers, see atOrigin) those of
// every live node that serves viewers, summed (a node that does not answer
// in time counts none); otherwise, and for a stream not live, the
// broadcast record's counts (written by the origin at each heartbeat).
func (s *Server) broadcastStatistics(w http.ResponseWriter, r *http.Request, b stream.Broadcast) {
	if forwarded(r) && r.Header.Get(ScopeHeader) == "local" {
		writeJSON(w, http.StatusOK, s.localStatistics(b.Key))
		return
	}
	if s.cfg.Viewers == nil || !b.Live() {
		writeJSON(w, http.StatusOK, BroadcastStatistics{
			TotalRTMPWatchersCount: b.RTMPViewers, TotalHLSWatchersCount: b.HLSViewers, TotalWebRTCWatchersCount: b.WebRTCViewers,
		})
		return
	}
	st := s.localStatistics(b.Key)
	if s.cfg.Forward.Secret != nil {
		st.add(s.clusterStatistics(r.Context(), r.URL.Path))
	}
	writeJSON(w, http.StatusOK, st)
}

// clusterStatistics asks every other live node that serves viewers for its
// own viewers (path is the broadcast-statistics call) and sums them.
func (s *Server) clusterStatistics(ctx context.Context, path string) BroadcastStatistics {
	var sum BroadcastStatistics
	nodes, err := s.nodes.Nodes(ctx)
	if err != nil {
		s.log.Debug("broadcast-statistics: cannot list nodes", "err", err)
		return sum
	}
	self := s.node.Self().ID
	tok, err := signForward(s.cfg.Forward.Secret, self, s.cfg.Now())
	if err != nil {
		return sum
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Forward.Timeout)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, n := range nodes {
		if n.ID == self || !n.Role.Serves() || n.HTTPAddr == "" || !n.Alive(s.cfg.Now(), s.cfg.DeadAfter) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := s.askStatistics(ctx, "http://"+n.HTTPAddr+path, tok)
			if err != nil {
				s.log.Debug("broadcast-statistics: a node did not answer", "node", n.ID, "err", err)
				return
			}
			mu.Lock()
			sum.add(st)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return sum
}

// askStatistics asks one node for its own viewers.
func (s *Server) askStatistics(ctx context.Context, url, tok string) (BroadcastStatistics, error) {
	var st BroadcastStatistics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	req.Header.Set(ForwardHeader, tok)
	req.Header.Set(ScopeHeader, "local")
	resp, err := s.cfg.Forward.Client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, &statusError{code: resp.StatusCode}
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st)
	return st, err
}

// statusError is an unexpected HTTP status from another node.
type statusError struct{ code int }

func (e *statusError) Error() string { return "HTTP " + http.StatusText(e.code) }
