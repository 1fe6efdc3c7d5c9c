package pluginhost

import (
	"context"
	"fmt"
)

// Probe is a plugin's answer to a probe.
type Probe struct {
	Name       string // as the plugin calls itself
	Version    string
	APIVersion int
	Encoder    string   // "libx264", "h264_nvenc" ...
	Codecs     []string // output codecs
	Hardware   bool     // needs an accelerator
	OK         bool     // the trial encode passed
	Reason     string   // why not, when !OK
}

// Probe starts plugin name, asks it for a trial encode, and stops it. A
// failed trial is not an error: OK is false and Reason says why.
func (h *Host) Probe(ctx context.Context, name string) (Probe, error) {
	p, err := h.launch(name)
	if err != nil {
		return Probe{}, err
	}
	defer h.kill(p)
	ctx, cancel := context.WithTimeout(ctx, h.cfg.ProbeTimeout)
	defer cancel()
	r, err := p.tc.Probe(ctx)
	if err != nil {
		return Probe{}, fmt.Errorf("probing plugin %s: %w", name, err)
	}
	pr := Probe{Name: r.GetName(), Version: r.GetVersion(), APIVersion: int(r.GetApiVersion()), Encoder: r.GetEncoder(),
		Codecs: r.GetCodecs(), Hardware: r.GetHardware(), OK: r.GetHardwareOk(), Reason: r.GetReason()}
	h.log.Debug("transcoder plugin probed", "plugin", name, "encoder", pr.Encoder, "ok", pr.OK, "reason", pr.Reason)
	return pr, nil
}
