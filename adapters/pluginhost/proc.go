package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"github.com/hashicorp/go-plugin"

	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// proc is one running plugin process.
type proc struct {
	name   string
	client *plugin.Client
	tc     transcoderv1.Transcoder
	pid    int
}

// launch starts plugin name and dispenses its Transcoder. The process is
// registered with the host until kill.
func (h *Host) launch(name string) (*proc, error) {
	path, err := h.lookup(name)
	if err != nil {
		return nil, err
	}
	var secure *plugin.SecureConfig
	if pin, ok := h.cfg.Checksums[name]; ok {
		sum, _ := hex.DecodeString(pin) // validated by Config
		secure = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	} else if h.cfg.RequireChecksums {
		return nil, fmt.Errorf("%w: plugin %s (%s) has no pinned SHA-256 and pins are required", ErrChecksum, name, path)
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  transcoderv1.Handshake(),
		VersionedPlugins: transcoderv1.PluginSets(nil),
		Cmd:              exec.Command(path),
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          h.cfg.Managed,
		StartTimeout:     h.cfg.StartTimeout,
		Logger:           h.hlog.Named(name),
		GRPCDialOptions:  transcoderv1.DialOptions(),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("%w: plugin %s: %s has SHA-256 %s, pinned %s; not started", ErrChecksum, name, path, fileSHA256(path), h.cfg.Checksums[name])
		}
		return nil, fmt.Errorf("%w: %s (%s): %w", ErrPluginStart, name, path, err)
	}
	raw, err := rpc.Dispense(transcoderv1.PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("%w: %s: dispense: %w", ErrPluginStart, name, err)
	}
	tc, ok := raw.(transcoderv1.Transcoder)
	if !ok {
		client.Kill()
		return nil, fmt.Errorf("%w: %s: dispensed %T", ErrPluginStart, name, raw)
	}
	p := &proc{name: name, client: client, tc: tc}
	p.pid, _ = strconv.Atoi(client.ID())
	if !h.track(p) {
		client.Kill()
		return nil, ErrClosed
	}
	return p, nil
}

// kill stops the process (gracefully first: go-plugin asks it to shut
// down, then kills it after 2 s) and forgets it.
func (h *Host) kill(p *proc) {
	p.client.Kill()
	h.untrack(p)
}

func fileSHA256(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable (" + err.Error() + ")"
	}
	defer f.Close()
	s := sha256.New()
	if _, err := io.Copy(s, f); err != nil {
		return "unreadable (" + err.Error() + ")"
	}
	return hex.EncodeToString(s.Sum(nil))
}
