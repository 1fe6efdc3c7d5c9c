package bbolt

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
)

// Schema version 1. Every value is one JSON object; times are RFC 3339 with
// nanoseconds in UTC, the zero time as "0001-01-01T00:00:00Z". Fields may be
// added (decoders ignore unknown ones); renaming or retyping one needs a new
// schemaVersion and a migration in initBuckets.
//
//	bucket      key            value
//	meta        "version"      uint64 big-endian schemaVersion
//	nodes       node id        nodeRecord
//	claims      "app/id"       claimRecord
//	broadcasts  "app/id"       broadcastRecord
//	carriers    "app/id#node"  carrierRecord (bucket added within version 1)

// nodeRecord is a node.Node as stored.
type nodeRecord struct {
	ID           string     `json:"id"`
	Role         string     `json:"role"`
	Group        string     `json:"group"`
	InternalAddr string     `json:"internalAddr"`
	PublicAddr   string     `json:"publicAddr"`
	HTTPAddr     string     `json:"httpAddr"`
	RTMPAddr     string     `json:"rtmpAddr,omitempty"`
	Version      string     `json:"version"`
	StartedAt    time.Time  `json:"startedAt"`
	LastSeen     time.Time  `json:"lastSeen"`
	Load         loadRecord `json:"load"`
}

// loadRecord is a node.Load as stored.
type loadRecord struct {
	CPUPercent   float64 `json:"cpuPercent"`
	MemoryBytes  uint64  `json:"memoryBytes"`
	MemoryTotal  uint64  `json:"memoryTotal"`
	Streams      int     `json:"streams"`
	Viewers      int     `json:"viewers"`
	DBQueryAvgMs float64 `json:"dbQueryAvgMs"`
	// StreamViewers is node.Load.StreamViewers (added within version 1:
	// absent in older records, which read as none).
	StreamViewers []streamViewersRecord `json:"streamViewers,omitempty"`
}

// streamViewersRecord is a node.StreamViewers as stored.
type streamViewersRecord struct {
	App    string `json:"app"`
	ID     string `json:"id"`
	HLS    int    `json:"hls,omitempty"`
	WebRTC int    `json:"webrtc,omitempty"`
	RTMP   int    `json:"rtmp,omitempty"`
}

func toLoadRecord(l node.Load) loadRecord {
	r := loadRecord{
		CPUPercent: l.CPUPercent, MemoryBytes: l.MemoryBytes, MemoryTotal: l.MemoryTotal,
		Streams: l.Streams, Viewers: l.Viewers, DBQueryAvgMs: l.DBQueryAvgMs,
	}
	for _, v := range l.StreamViewers {
		r.StreamViewers = append(r.StreamViewers, streamViewersRecord{
			App: string(v.Stream.App), ID: string(v.Stream.ID), HLS: v.HLS, WebRTC: v.WebRTC, RTMP: v.RTMP,
		})
	}
	return r
}

func (r loadRecord) load() node.Load {
	l := node.Load{
		CPUPercent: r.CPUPercent, MemoryBytes: r.MemoryBytes, MemoryTotal: r.MemoryTotal,
		Streams: r.Streams, Viewers: r.Viewers, DBQueryAvgMs: r.DBQueryAvgMs,
	}
	if len(r.StreamViewers) > 0 {
		l.StreamViewers = make([]node.StreamViewers, 0, len(r.StreamViewers))
	}
	for _, v := range r.StreamViewers {
		l.StreamViewers = append(l.StreamViewers, node.StreamViewers{
			Stream: stream.Key{App: stream.App(v.App), ID: stream.ID(v.ID)}, HLS: v.HLS, WebRTC: v.WebRTC, RTMP: v.RTMP,
		})
	}
	return l
}

// claimRecord is an origin.Claim as stored; its key is Stream.
type claimRecord struct {
	Stream    string    `json:"stream"` // "app/id"
	Node      string    `json:"node"`
	RelayAddr string    `json:"relayAddr"`
	ClaimedAt time.Time `json:"claimedAt"`
	RenewedAt time.Time `json:"renewedAt"`
}

// broadcastRecord is a stream.Broadcast as stored; its key is App "/" ID.
type broadcastRecord struct {
	App           string            `json:"app"`
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Status        string            `json:"status"`
	Type          string            `json:"type"`
	PublishType   string            `json:"publishType"`
	OriginNode    string            `json:"originNode"`
	OriginAddr    string            `json:"originAddr"`
	CreatedAt     time.Time         `json:"createdAt"`
	StartTime     time.Time         `json:"startTime"`
	EndTime       time.Time         `json:"endTime"`
	UpdatedAt     time.Time         `json:"updatedAt"`
	Width         int               `json:"width"`
	Height        int               `json:"height"`
	Bitrate       int               `json:"bitrate"`
	VideoCodec    string            `json:"videoCodec"`
	AudioCodec    string            `json:"audioCodec"`
	HLSViewers    int               `json:"hlsViewers"`
	WebRTCViewers int               `json:"webrtcViewers"`
	RTMPViewers   int               `json:"rtmpViewers"`
	Ladder        []renditionRecord `json:"ladder,omitempty"`
}

// renditionRecord is a stream.Rendition as stored.
type renditionRecord struct {
	Height       int  `json:"height"`
	VideoBitrate int  `json:"videoBitrate"`
	AudioBitrate int  `json:"audioBitrate"`
	ForceEncode  bool `json:"forceEncode"`
}

// utc returns t in UTC without its monotonic reading; zero stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func keyBytes(k stream.Key) []byte { return []byte(k.String()) }

// parseKey turns a stored "app/id" back into a key, refusing a corrupt one.
func parseKey(s string) (stream.Key, error) {
	k, err := stream.KeyFromString(s)
	if err != nil {
		return stream.Key{}, fmt.Errorf("corrupt record key: %w", err)
	}
	return k, nil
}

func encodeNode(n node.Node) ([]byte, error) {
	return json.Marshal(nodeRecord{
		ID: string(n.ID), Role: string(n.Role), Group: n.Group,
		InternalAddr: n.InternalAddr, PublicAddr: n.PublicAddr, HTTPAddr: n.HTTPAddr, RTMPAddr: n.RTMPAddr,
		Version: n.Version, StartedAt: utc(n.StartedAt), LastSeen: utc(n.LastSeen),
		Load: toLoadRecord(n.Load),
	})
}

func decodeNode(data []byte) (node.Node, error) {
	var r nodeRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return node.Node{}, fmt.Errorf("decode node: %w", err)
	}
	return node.Node{
		ID: node.ID(r.ID), Role: node.Role(r.Role), Group: r.Group,
		InternalAddr: r.InternalAddr, PublicAddr: r.PublicAddr, HTTPAddr: r.HTTPAddr, RTMPAddr: r.RTMPAddr,
		Version: r.Version, StartedAt: utc(r.StartedAt), LastSeen: utc(r.LastSeen),
		Load: r.Load.load(),
	}, nil
}

func encodeClaim(c origin.Claim) ([]byte, error) {
	return json.Marshal(claimRecord{
		Stream: c.Stream.String(), Node: string(c.Node), RelayAddr: c.RelayAddr,
		ClaimedAt: utc(c.ClaimedAt), RenewedAt: utc(c.RenewedAt),
	})
}

func decodeClaim(data []byte) (origin.Claim, error) {
	var r claimRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return origin.Claim{}, fmt.Errorf("decode claim: %w", err)
	}
	k, err := parseKey(r.Stream)
	if err != nil {
		return origin.Claim{}, err
	}
	return origin.Claim{
		Stream: k, Node: node.ID(r.Node), RelayAddr: r.RelayAddr,
		ClaimedAt: utc(r.ClaimedAt), RenewedAt: utc(r.RenewedAt),
	}, nil
}

func encodeBroadcast(b stream.Broadcast) ([]byte, error) {
	r := broadcastRecord{
		App: string(b.Key.App), ID: string(b.Key.ID), Name: b.Name, Status: string(b.Status),
		Type: b.Type, PublishType: b.PublishType, OriginNode: b.OriginNode, OriginAddr: b.OriginAddr,
		CreatedAt: utc(b.CreatedAt), StartTime: utc(b.StartTime), EndTime: utc(b.EndTime), UpdatedAt: utc(b.UpdatedAt),
		Width: b.Width, Height: b.Height, Bitrate: b.Bitrate, VideoCodec: b.VideoCodec, AudioCodec: b.AudioCodec,
		HLSViewers: b.HLSViewers, WebRTCViewers: b.WebRTCViewers, RTMPViewers: b.RTMPViewers,
	}
	for _, x := range b.Ladder {
		r.Ladder = append(r.Ladder, renditionRecord(x))
	}
	return json.Marshal(r)
}

func decodeBroadcast(data []byte) (stream.Broadcast, error) {
	var r broadcastRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return stream.Broadcast{}, fmt.Errorf("decode broadcast: %w", err)
	}
	k, err := stream.ParseKey(r.App, r.ID)
	if err != nil {
		return stream.Broadcast{}, fmt.Errorf("corrupt broadcast key: %w", err)
	}
	b := stream.Broadcast{
		Key: k, Name: r.Name, Status: stream.Status(r.Status),
		Type: r.Type, PublishType: r.PublishType, OriginNode: r.OriginNode, OriginAddr: r.OriginAddr,
		CreatedAt: utc(r.CreatedAt), StartTime: utc(r.StartTime), EndTime: utc(r.EndTime), UpdatedAt: utc(r.UpdatedAt),
		Width: r.Width, Height: r.Height, Bitrate: r.Bitrate, VideoCodec: r.VideoCodec, AudioCodec: r.AudioCodec,
		HLSViewers: r.HLSViewers, WebRTCViewers: r.WebRTCViewers, RTMPViewers: r.RTMPViewers,
	}
	for _, x := range r.Ladder {
		b.Ladder = append(b.Ladder, stream.Rendition(x))
	}
	return b, nil
}
