package rest

import (
	"context"
	"net/http"
	"slices"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Broadcast is Ant Media's Broadcast JSON, with the fields that apply.
type Broadcast struct {
	StreamID          string            `json:"streamId"`
	Name              string            `json:"name"`
	Status            string            `json:"status"`
	Type              string            `json:"type"`
	PublishType       string            `json:"publishType,omitempty"`
	OriginAdress      string            `json:"originAdress,omitempty"` // sic: Ant Media's spelling
	OriginNode        string            `json:"originNode,omitempty"`
	Date              int64             `json:"date"`
	StartTime         int64             `json:"startTime"`
	UpdateTime        int64             `json:"updateTime"`
	Duration          int64             `json:"duration"`
	Width             int               `json:"width"`
	Height            int               `json:"height"`
	Bitrate           int               `json:"bitrate"`
	VideoCodec        string            `json:"videoCodec,omitempty"`
	AudioCodec        string            `json:"audioCodec,omitempty"`
	HLSViewerCount    int               `json:"hlsViewerCount"`
	WebRTCViewerCount int               `json:"webRTCViewerCount"`
	RTMPViewerCount   int               `json:"rtmpViewerCount"`
	Publish           bool              `json:"publish"`
	EncoderSettings   []EncoderSettings `json:"encoderSettingsList,omitempty"`
}

// EncoderSettings is one ABR rung in Ant Media's form.
type EncoderSettings struct {
	Height       int  `json:"height"`
	VideoBitrate int  `json:"videoBitrate"`
	AudioBitrate int  `json:"audioBitrate"`
	ForceEncode  bool `json:"forceEncode"`
}

func ms(t interface{ UnixMilli() int64 }) int64 { return t.UnixMilli() }

func toJSON(b stream.Broadcast) Broadcast {
	out := Broadcast{
		StreamID: string(b.Key.ID), Name: b.Name, Status: string(b.Status), Type: b.Type,
		PublishType: b.PublishType, OriginAdress: b.OriginAddr, OriginNode: b.OriginNode,
		Width: b.Width, Height: b.Height, Bitrate: b.Bitrate, VideoCodec: b.VideoCodec, AudioCodec: b.AudioCodec,
		HLSViewerCount: b.HLSViewers, WebRTCViewerCount: b.WebRTCViewers, RTMPViewerCount: b.RTMPViewers,
		Publish: true,
	}
	if !b.CreatedAt.IsZero() {
		out.Date = ms(b.CreatedAt)
	}
	if !b.StartTime.IsZero() {
		out.StartTime = ms(b.StartTime)
		if !b.EndTime.IsZero() {
			out.Duration = b.EndTime.Sub(b.StartTime).Milliseconds()
		}
	}
	if !b.UpdatedAt.IsZero() {
		out.UpdateTime = ms(b.UpdatedAt)
	}
	if len(b.Ladder) > 0 {
		out.EncoderSettings = encoderSettings(b.Ladder)
	}
	return out
}

func (s *Server) listBroadcasts(w http.ResponseWriter, r *http.Request, app stream.App) {
	offset, size, ok := paging(r)
	if !ok {
		fail(w, http.StatusBadRequest, "offset must be >= 0 and size >= 1")
		return
	}
	q := ports.ListQuery{App: app, Offset: offset, Limit: size, Search: r.URL.Query().Get("search")}
	switch r.URL.Query().Get("sort_by") {
	case "name", "date", "status":
		q.SortBy = r.URL.Query().Get("sort_by")
	}
	q.Desc = r.URL.Query().Get("order_by") == "desc"
	list, _, err := s.catalog.Broadcasts(r.Context(), q)
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.broadcastsJSON(r.Context(), list))
}

// broadcastsJSON returns the JSON of list: each live stream published here
// with the bitrate measured here (withMeasured) and, on a cluster node,
// every live stream with its viewers summed over the alive nodes of the
// cluster (clusterViewers: one registry read for the whole list, up to one
// heartbeat old). If the registry cannot be read, the records' counts (the
// origin's own viewers) are kept.
func (s *Server) broadcastsJSON(ctx context.Context, list []stream.Broadcast) []Broadcast {
	var sums map[stream.Key]node.StreamViewers
	if s.clustered() && slices.ContainsFunc(list, stream.Broadcast.Live) {
		var err error
		if sums, err = s.clusterViewers(ctx); err != nil {
			s.log.Debug("cannot read the registry: viewer counts from the broadcast records", "err", err)
		}
	}
	out := make([]Broadcast, 0, len(list))
	for _, b := range list {
		j := s.withMeasured(b)
		if sums != nil && b.Live() {
			v := sums[b.Key]
			j.HLSViewerCount, j.WebRTCViewerCount, j.RTMPViewerCount = v.HLS, v.WebRTC, v.RTMP
		}
		out = append(out, j)
	}
	return out
}

func (s *Server) countBroadcasts(w http.ResponseWriter, r *http.Request, app stream.App) {
	_, total, err := s.catalog.Broadcasts(r.Context(), ports.ListQuery{App: app, Limit: 1})
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"number": total})
}

func (s *Server) activeCount(w http.ResponseWriter, r *http.Request, app stream.App) {
	_, total, err := s.catalog.Broadcasts(r.Context(), ports.ListQuery{App: app, Status: stream.StatusBroadcasting, Limit: 1})
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"number": total})
}

func (s *Server) getBroadcast(w http.ResponseWriter, r *http.Request, key stream.Key) {
	b, err := s.catalog.Broadcast(r.Context(), key)
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.broadcastsJSON(r.Context(), []stream.Broadcast{b})[0])
}

// stopBroadcast answers POST /{app}/rest/v2/broadcasts/{id}/stop: it
// disconnects the publisher here, or forwards the call to the stream's
// origin (in a cluster); a stream published nowhere: 409.
func (s *Server) stopBroadcast(w http.ResponseWriter, r *http.Request, key stream.Key) {
	if s.node.Stop(key) {
		writeJSON(w, http.StatusOK, Result{Success: true, DataID: string(key.ID)})
		return
	}
	b, err := s.catalog.Broadcast(r.Context(), key)
	if err != nil {
		storeError(w, err)
		return
	}
	if s.elsewhere(r, b) {
		s.forward(w, r, b)
		return
	}
	fail(w, http.StatusConflict, "stream is not being published on this node")
}
