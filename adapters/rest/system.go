package rest

import (
	"net/http"
	"runtime"
)

// SystemStatus is the node's system-status JSON, with Ant Media's names
// where they apply.
type SystemStatus struct {
	Node             string           `json:"node"`
	OSName           string           `json:"osName"`
	OSArch           string           `json:"osArch"`
	ProcessorCount   int              `json:"processorCount"`
	CPUUsage         CPUUsage         `json:"cpuUsage"`
	SystemMemoryInfo SystemMemoryInfo `json:"systemMemoryInfo"`
	FileSystemInfo   FileSystemInfo   `json:"fileSystemInfo"`
}

// CPUUsage is the machine's CPU use in percent (0..100).
type CPUUsage struct {
	SystemCPULoad float64 `json:"systemCPULoad"`
}

// SystemMemoryInfo is in bytes: the machine's memory and the process's resident set.
type SystemMemoryInfo struct {
	TotalMemory   uint64 `json:"totalMemory"`
	ProcessMemory uint64 `json:"processMemory"`
}

// FileSystemInfo is in bytes, for the file system of the data directory.
type FileSystemInfo struct {
	Path        string `json:"path"`
	TotalSpace  uint64 `json:"totalSpace"`
	FreeSpace   uint64 `json:"freeSpace"`
	UsableSpace uint64 `json:"usableSpace"`
	InUseSpace  uint64 `json:"inUseSpace"`
}

// systemStatus answers GET /rest/v2/system-status for this node: CPU and
// memory from Config.Load (or from the node's last heartbeat), disk from
// Config.DiskPath.
func (s *Server) systemStatus(w http.ResponseWriter, r *http.Request) {
	self := s.node.Self()
	out := SystemStatus{Node: string(self.ID), OSName: runtime.GOOS, OSArch: runtime.GOARCH, ProcessorCount: runtime.NumCPU()}
	if s.cfg.Load != nil {
		cpu, rss, total := s.cfg.Load.Sample()
		out.CPUUsage.SystemCPULoad = cpu
		out.SystemMemoryInfo = SystemMemoryInfo{TotalMemory: total, ProcessMemory: rss}
	} else if nodes, err := s.nodes.Nodes(r.Context()); err == nil {
		for _, n := range nodes {
			if n.ID == self.ID {
				out.CPUUsage.SystemCPULoad = n.Load.CPUPercent
				out.SystemMemoryInfo = SystemMemoryInfo{TotalMemory: n.Load.MemoryTotal, ProcessMemory: n.Load.MemoryBytes}
			}
		}
	}
	out.FileSystemInfo.Path = s.cfg.DiskPath
	if total, free, avail, err := diskUsage(s.cfg.DiskPath); err == nil {
		out.FileSystemInfo.TotalSpace, out.FileSystemInfo.FreeSpace, out.FileSystemInfo.UsableSpace = total, free, avail
		out.FileSystemInfo.InUseSpace = total - free
	} else {
		s.log.Debug("system-status: disk usage", "path", s.cfg.DiskPath, "err", err)
	}
	writeJSON(w, http.StatusOK, out)
}
