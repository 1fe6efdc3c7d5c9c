package rest

import (
	"net/http"
	"strconv"

	"github.com/colony-live/colony/core/node"
)

// ClusterNode is Ant Media's ClusterNode JSON plus Colony's role, group and load.
type ClusterNode struct {
	ID                   string  `json:"id"`
	IP                   string  `json:"ip"`
	Status               string  `json:"status"` // alive or dead
	LastUpdateTime       int64   `json:"lastUpdateTime"`
	CPU                  string  `json:"cpu"`
	Memory               string  `json:"memory"`
	DBQueryAverageTimeMs float64 `json:"dbQueryAverageTimeMs"`
	Role                 string  `json:"role"`
	Group                string  `json:"group"`
	InternalAddr         string  `json:"internalAddress"`
	HTTPAddr             string  `json:"httpAddress"`
	RTMPAddr             string  `json:"rtmpAddress,omitempty"`
	Version              string  `json:"version"`
	Streams              int     `json:"streams"`
	Viewers              int     `json:"viewers"`
	MemoryBytes          uint64  `json:"memoryBytes"`
	CPUPercent           float64 `json:"cpuPercent"`
	StartTime            int64   `json:"startTime"`
}

func (s *Server) clusterNode(n node.Node) ClusterNode {
	status := "dead"
	if n.Alive(s.cfg.Now(), s.cfg.DeadAfter) {
		status = "alive"
	}
	return ClusterNode{
		ID: string(n.ID), IP: n.PublicAddr, Status: status, LastUpdateTime: n.LastSeen.UnixMilli(),
		CPU:    formatFloat(n.Load.CPUPercent),
		Memory: formatFloat(float64(n.Load.MemoryBytes) / (1 << 20)), DBQueryAverageTimeMs: n.Load.DBQueryAvgMs,
		Role: string(n.Role), Group: n.Group, InternalAddr: n.InternalAddr, HTTPAddr: n.HTTPAddr, RTMPAddr: n.RTMPAddr, Version: n.Version,
		Streams: n.Load.Streams, Viewers: n.Load.Viewers, MemoryBytes: n.Load.MemoryBytes, CPUPercent: n.Load.CPUPercent,
		StartTime: n.StartedAt.UnixMilli(),
	}
}

func (s *Server) nodeCount(w http.ResponseWriter, r *http.Request) {
	nodes, err := s.nodes.Nodes(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"number": len(nodes)})
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	offset, size, ok := paging(r)
	if !ok {
		fail(w, http.StatusBadRequest, "offset must be >= 0 and size >= 1")
		return
	}
	nodes, err := s.nodes.Nodes(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	out := []ClusterNode{}
	for i := offset; i < len(nodes) && i < offset+size; i++ {
		out = append(out, s.clusterNode(nodes[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteNode(w http.ResponseWriter, r *http.Request) {
	id := node.ID(r.PathValue("id"))
	nodes, err := s.nodes.Nodes(r.Context())
	if err != nil {
		storeError(w, err)
		return
	}
	for _, n := range nodes {
		if n.ID != id {
			continue
		}
		if n.Alive(s.cfg.Now(), s.cfg.DeadAfter) {
			fail(w, http.StatusConflict, "node is alive: only dead nodes can be deleted")
			return
		}
		if err := s.nodes.Deregister(r.Context(), id); err != nil {
			storeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, Result{Success: true, DataID: string(id)})
		return
	}
	fail(w, http.StatusNotFound, "no such node")
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
