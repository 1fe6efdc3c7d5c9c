package rest

import (
	"context"
	"net/http"

	"github.com/colony-live/colony/core/node"
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

// ViewerCounter counts this node's own viewers of a stream per protocol
// ("hls", "webrtc", "rtmp"); the engine implements it.
type ViewerCounter interface {
	ViewerCounts(key stream.Key) map[string]int
}

// clustered reports whether this node is a member of a cluster (it has the
// cluster secret), whose viewers are counted from the registry.
func (s *Server) clustered() bool { return s.cfg.Forward.Secret != nil }

// clusterViewers reads the registry once and sums, per stream, the viewers
// that every alive node reported with its last heartbeat (origins, edges
// and carriers alike, each counting only its own viewers). The sums lag the
// real counts by up to one heartbeat period; a dead node counts none.
func (s *Server) clusterViewers(ctx context.Context) (map[stream.Key]node.StreamViewers, error) {
	nodes, err := s.nodes.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	return node.ClusterViewers(nodes, s.cfg.Now(), s.cfg.DeadAfter), nil
}

// broadcastStatistics answers GET /{app}/rest/v2/broadcasts/{id}/broadcast-statistics.
// A live stream's viewers are, on a cluster node, the sums over the alive
// nodes from the registry (one read, whichever node is asked: nothing is
// forwarded; up to one heartbeat old), and on a standalone node with
// Config.Viewers its own viewers counted now. Otherwise, and for a stream
// not live, the broadcast record's counts.
func (s *Server) broadcastStatistics(w http.ResponseWriter, r *http.Request, key stream.Key) {
	b, err := s.catalog.Broadcast(r.Context(), key)
	if err != nil {
		storeError(w, err)
		return
	}
	st := BroadcastStatistics{TotalRTMPWatchersCount: b.RTMPViewers, TotalHLSWatchersCount: b.HLSViewers, TotalWebRTCWatchersCount: b.WebRTCViewers}
	switch {
	case !b.Live():
	case s.clustered():
		sums, err := s.clusterViewers(r.Context())
		if err != nil {
			storeError(w, err)
			return
		}
		v := sums[key]
		st = BroadcastStatistics{TotalRTMPWatchersCount: v.RTMP, TotalHLSWatchersCount: v.HLS, TotalWebRTCWatchersCount: v.WebRTC}
	case s.cfg.Viewers != nil:
		per := s.cfg.Viewers.ViewerCounts(key)
		st = BroadcastStatistics{TotalRTMPWatchersCount: per["rtmp"], TotalHLSWatchersCount: per["hls"], TotalWebRTCWatchersCount: per["webrtc"]}
	}
	writeJSON(w, http.StatusOK, st)
}
