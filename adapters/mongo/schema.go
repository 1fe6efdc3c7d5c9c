package mongo

import (
	"math"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
)

// The stored documents. Field names are the schema: change them only with a
// migration. Times are BSON dates (UTC, millisecond precision); a zero time
// is left out of the document.

// Collection names.
const (
	collNodes      = "nodes"
	collClaims     = "origin_claims"
	collBroadcasts = "broadcasts"
	// collStreamInfo holds live per-rendition information of streams, one
	// document per rendition: {_id: "app/id/height", app, streamId, node,
	// height, width, bitrate, updatedAt}. Only its index exists so far.
	collStreamInfo = "stream_info"
	// collCarriers holds the nodes that carry a stream for their node
	// group (see carriers.go).
	collCarriers = "stream_carriers"
)

// nodeDoc is one cluster member; _id is the node id.
type nodeDoc struct {
	ID           string    `bson:"_id"`
	Role         string    `bson:"role"`
	Group        string    `bson:"group"`
	InternalAddr string    `bson:"internalAddr"`
	PublicAddr   string    `bson:"publicAddr"`
	HTTPAddr     string    `bson:"httpAddr"`
	RTMPAddr     string    `bson:"rtmpAddr,omitempty"`
	Version      string    `bson:"version"`
	StartedAt    time.Time `bson:"startedAt,omitempty"`
	LastSeen     time.Time `bson:"lastSeen"`
	Load         loadDoc   `bson:"load"`
}

// loadDoc is a node's last reported load.
type loadDoc struct {
	CPUPercent   float64 `bson:"cpuPercent"`
	MemoryBytes  int64   `bson:"memoryBytes"`
	MemoryTotal  int64   `bson:"memoryTotal"`
	Streams      int64   `bson:"streams"`
	Viewers      int64   `bson:"viewers"`
	DBQueryAvgMs float64 `bson:"dbQueryAvgMs"`
	// StreamViewers is node.Load.StreamViewers: an array of small
	// subdocuments, not a document keyed by stream (stream ids may hold
	// dots, awkward in field names); left out when empty. Heartbeat
	// replaces it with the whole load in its one $set.
	StreamViewers []streamViewersDoc `bson:"streamViewers,omitempty"`
}

// streamViewersDoc is one stream's viewers on a node: {app, id, hls,
// webrtc, rtmp}, zero counts left out.
type streamViewersDoc struct {
	App    string `bson:"app"`
	ID     string `bson:"id"`
	HLS    int64  `bson:"hls,omitempty"`
	WebRTC int64  `bson:"webrtc,omitempty"`
	RTMP   int64  `bson:"rtmp,omitempty"`
}

// claimDoc is the origin claim on one stream; _id is "app/id".
type claimDoc struct {
	ID        string    `bson:"_id"`
	App       string    `bson:"app"`
	StreamID  string    `bson:"streamId"`
	Node      string    `bson:"node"`
	RelayAddr string    `bson:"relayAddr"`
	ClaimedAt time.Time `bson:"claimedAt"`
	RenewedAt time.Time `bson:"renewedAt"`
}

// broadcastDoc is one broadcast record; _id is "app/id". Version counts the
// writes and guards UpdateBroadcast's optimistic concurrency.
type broadcastDoc struct {
	ID            string         `bson:"_id"`
	App           string         `bson:"app"`
	StreamID      string         `bson:"streamId"`
	Version       int64          `bson:"version"`
	Name          string         `bson:"name"`
	Status        string         `bson:"status"`
	Type          string         `bson:"type"`
	PublishType   string         `bson:"publishType"`
	OriginNode    string         `bson:"originNode"`
	OriginAddr    string         `bson:"originAddr"`
	CreatedAt     time.Time      `bson:"createdAt"`
	StartTime     time.Time      `bson:"startTime,omitempty"`
	EndTime       time.Time      `bson:"endTime,omitempty"`
	UpdatedAt     time.Time      `bson:"updatedAt,omitempty"`
	Width         int64          `bson:"width"`
	Height        int64          `bson:"height"`
	Bitrate       int64          `bson:"bitrate"`
	VideoCodec    string         `bson:"videoCodec"`
	AudioCodec    string         `bson:"audioCodec"`
	HLSViewers    int64          `bson:"hlsViewers"`
	WebRTCViewers int64          `bson:"webrtcViewers"`
	RTMPViewers   int64          `bson:"rtmpViewers"`
	Ladder        []renditionDoc `bson:"ladder,omitempty"`
}

// renditionDoc is one rung of a broadcast's ABR ladder.
type renditionDoc struct {
	Height       int64 `bson:"height"`
	VideoBitrate int64 `bson:"videoBitrate"`
	AudioBitrate int64 `bson:"audioBitrate"`
	ForceEncode  bool  `bson:"forceEncode"`
}

// dbTime is t as stored: UTC, truncated to the millisecond; zero stays zero.
func dbTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// goTime is a stored time read back: UTC, with the zero instant as time.Time{}.
func goTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// clampInt64 converts a uint64 counter, saturating at math.MaxInt64 (BSON
// has no unsigned 64-bit integers).
func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

func unclamp(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

func toLoadDoc(l node.Load) loadDoc {
	return loadDoc{
		CPUPercent:    l.CPUPercent,
		MemoryBytes:   clampInt64(l.MemoryBytes),
		MemoryTotal:   clampInt64(l.MemoryTotal),
		Streams:       int64(l.Streams),
		Viewers:       int64(l.Viewers),
		DBQueryAvgMs:  l.DBQueryAvgMs,
		StreamViewers: toStreamViewersDocs(l.StreamViewers),
	}
}

func toStreamViewersDocs(vs []node.StreamViewers) []streamViewersDoc {
	if len(vs) == 0 {
		return nil
	}
	out := make([]streamViewersDoc, 0, len(vs))
	for _, v := range vs {
		out = append(out, streamViewersDoc{
			App: string(v.Stream.App), ID: string(v.Stream.ID),
			HLS: int64(v.HLS), WebRTC: int64(v.WebRTC), RTMP: int64(v.RTMP),
		})
	}
	return out
}

func streamViewers(docs []streamViewersDoc) []node.StreamViewers {
	if len(docs) == 0 {
		return nil
	}
	out := make([]node.StreamViewers, 0, len(docs))
	for _, d := range docs {
		out = append(out, node.StreamViewers{
			Stream: stream.Key{App: stream.App(d.App), ID: stream.ID(d.ID)},
			HLS:    int(d.HLS), WebRTC: int(d.WebRTC), RTMP: int(d.RTMP),
		})
	}
	return out
}

func (d loadDoc) load() node.Load {
	return node.Load{
		CPUPercent:    d.CPUPercent,
		MemoryBytes:   unclamp(d.MemoryBytes),
		MemoryTotal:   unclamp(d.MemoryTotal),
		Streams:       int(d.Streams),
		Viewers:       int(d.Viewers),
		DBQueryAvgMs:  d.DBQueryAvgMs,
		StreamViewers: streamViewers(d.StreamViewers),
	}
}

func toNodeDoc(n node.Node) nodeDoc {
	return nodeDoc{
		ID:           string(n.ID),
		Role:         string(n.Role),
		Group:        n.Group,
		InternalAddr: n.InternalAddr,
		PublicAddr:   n.PublicAddr,
		HTTPAddr:     n.HTTPAddr,
		RTMPAddr:     n.RTMPAddr,
		Version:      n.Version,
		StartedAt:    dbTime(n.StartedAt),
		LastSeen:     dbTime(n.LastSeen),
		Load:         toLoadDoc(n.Load),
	}
}

func (d nodeDoc) node() node.Node {
	return node.Node{
		ID:           node.ID(d.ID),
		Role:         node.Role(d.Role),
		Group:        d.Group,
		InternalAddr: d.InternalAddr,
		PublicAddr:   d.PublicAddr,
		HTTPAddr:     d.HTTPAddr,
		RTMPAddr:     d.RTMPAddr,
		Version:      d.Version,
		StartedAt:    goTime(d.StartedAt),
		LastSeen:     goTime(d.LastSeen),
		Load:         d.Load.load(),
	}
}

// keyID is the _id of a stream's claim and broadcast documents.
func keyID(k stream.Key) string { return k.String() }

func toClaimDoc(c origin.Claim) claimDoc {
	return claimDoc{
		ID:        keyID(c.Stream),
		App:       string(c.Stream.App),
		StreamID:  string(c.Stream.ID),
		Node:      string(c.Node),
		RelayAddr: c.RelayAddr,
		ClaimedAt: dbTime(c.ClaimedAt),
		RenewedAt: dbTime(c.RenewedAt),
	}
}

func (d claimDoc) claim() origin.Claim {
	return origin.Claim{
		Stream:    stream.Key{App: stream.App(d.App), ID: stream.ID(d.StreamID)},
		Node:      node.ID(d.Node),
		RelayAddr: d.RelayAddr,
		ClaimedAt: goTime(d.ClaimedAt),
		RenewedAt: goTime(d.RenewedAt),
	}
}

func toBroadcastDoc(b stream.Broadcast, version int64) broadcastDoc {
	d := broadcastDoc{
		ID:            keyID(b.Key),
		App:           string(b.Key.App),
		StreamID:      string(b.Key.ID),
		Version:       version,
		Name:          b.Name,
		Status:        string(b.Status),
		Type:          b.Type,
		PublishType:   b.PublishType,
		OriginNode:    b.OriginNode,
		OriginAddr:    b.OriginAddr,
		CreatedAt:     dbTime(b.CreatedAt),
		StartTime:     dbTime(b.StartTime),
		EndTime:       dbTime(b.EndTime),
		UpdatedAt:     dbTime(b.UpdatedAt),
		Width:         int64(b.Width),
		Height:        int64(b.Height),
		Bitrate:       int64(b.Bitrate),
		VideoCodec:    b.VideoCodec,
		AudioCodec:    b.AudioCodec,
		HLSViewers:    int64(b.HLSViewers),
		WebRTCViewers: int64(b.WebRTCViewers),
		RTMPViewers:   int64(b.RTMPViewers),
	}
	for _, r := range b.Ladder {
		d.Ladder = append(d.Ladder, renditionDoc{
			Height:       int64(r.Height),
			VideoBitrate: int64(r.VideoBitrate),
			AudioBitrate: int64(r.AudioBitrate),
			ForceEncode:  r.ForceEncode,
		})
	}
	return d
}

func (d broadcastDoc) broadcast() stream.Broadcast {
	b := stream.Broadcast{
		Key:           stream.Key{App: stream.App(d.App), ID: stream.ID(d.StreamID)},
		Name:          d.Name,
		Status:        stream.Status(d.Status),
		Type:          d.Type,
		PublishType:   d.PublishType,
		OriginNode:    d.OriginNode,
		OriginAddr:    d.OriginAddr,
		CreatedAt:     goTime(d.CreatedAt),
		StartTime:     goTime(d.StartTime),
		EndTime:       goTime(d.EndTime),
		UpdatedAt:     goTime(d.UpdatedAt),
		Width:         int(d.Width),
		Height:        int(d.Height),
		Bitrate:       int(d.Bitrate),
		VideoCodec:    d.VideoCodec,
		AudioCodec:    d.AudioCodec,
		HLSViewers:    int(d.HLSViewers),
		WebRTCViewers: int(d.WebRTCViewers),
		RTMPViewers:   int(d.RTMPViewers),
	}
	for _, r := range d.Ladder {
		b.Ladder = append(b.Ladder, stream.Rendition{
			Height:       int(r.Height),
			VideoBitrate: int(r.VideoBitrate),
			AudioBitrate: int(r.AudioBitrate),
			ForceEncode:  r.ForceEncode,
		})
	}
	return b
}
