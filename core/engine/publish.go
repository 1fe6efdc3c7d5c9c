package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Publish implements ports.Ingest.
func (e *Engine) Publish(ctx context.Context, req ports.PublishRequest) (ports.Publication, error) {
	if !e.cfg.Self.Role.Ingests() {
		return nil, fmt.Errorf("%w: node %s is an edge and takes no publishers", ports.ErrRoleRefused, e.cfg.Self.ID)
	}
	if !e.apps[req.Key.App] {
		return nil, fmt.Errorf("%w %q", ports.ErrUnknownApp, req.Key.App)
	}
	if err := e.deps.Auth.AuthorizePublish(ctx, req); err != nil {
		return nil, err
	}
	en := &entry{key: req.Key, publishType: req.PublishType, started: make(chan struct{}), kick: make(chan struct{}), ended: make(chan struct{})}
	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: node is shutting down", ports.ErrOverloaded)
	}
	if old, ok := e.live[req.Key]; ok {
		e.mu.Unlock()
		if old.pulled {
			return nil, fmt.Errorf("%w: %s is being relayed from its origin", ports.ErrStreamBusy, req.Key)
		}
		return nil, fmt.Errorf("%w: %s", ports.ErrStreamBusy, req.Key)
	}
	e.live[req.Key] = en
	e.mu.Unlock()

	release := func() {
		e.mu.Lock()
		if e.live[req.Key] == en {
			delete(e.live, req.Key)
		}
		e.mu.Unlock()
	}
	var claim origin.Claim
	e.claimMu.RLock()
	err := e.timed(func() error {
		var err error
		claim, err = e.deps.Store.Claim(ctx, e.newClaim(req.Key), e.cfg.DeadAfter)
		return err
	})
	e.claimMu.RUnlock()
	if err != nil {
		release()
		var taken *origin.TakenError
		if errors.As(err, &taken) {
			return nil, fmt.Errorf("%w: %w", ports.ErrStreamBusy, err)
		}
		return nil, fmt.Errorf("claim origin of %s: %w", req.Key, err)
	}
	now := e.cfg.Now()
	_, err = e.deps.Store.UpdateBroadcast(ctx, req.Key, true, now, func(b *stream.Broadcast) error {
		if err := b.Transition(stream.StatusBroadcasting, now); err != nil {
			return err
		}
		b.PublishType = req.PublishType
		b.OriginNode = string(claim.Node)
		b.OriginAddr = e.cfg.Self.PublicAddr
		return nil
	})
	if err != nil {
		release()
		rctx, cancel := storeCtx()
		_ = e.deps.Store.Release(rctx, req.Key, e.cfg.Self.ID)
		cancel()
		return nil, fmt.Errorf("record broadcast %s: %w", req.Key, err)
	}
	e.log.Info("publish started", "stream", req.Key.String(), "type", req.PublishType, "remote", req.RemoteAddr)
	return &publication{e: e, en: en}, nil
}

// publication implements ports.Publication.
type publication struct {
	e       *Engine
	en      *entry
	endOnce sync.Once
}

func (p *publication) Kicked() <-chan struct{} { return p.en.kick }

func (p *publication) Start(tracks []media.Track) (*media.Stream, error) {
	if len(tracks) == 0 {
		return nil, errors.New("publish: no tracks")
	}
	s := media.NewStream(tracks, p.e.cfg.Stream)
	p.e.mu.Lock()
	if p.en.s != nil {
		p.e.mu.Unlock()
		s.Close()
		return nil, errors.New("publish: already started")
	}
	if p.e.live[p.en.key] != p.en {
		// End ran first: nobody would ever close s.
		p.e.mu.Unlock()
		s.Close()
		return nil, errors.New("publish: already ended")
	}
	p.en.s = s
	close(p.en.started)
	p.e.mu.Unlock()
	p.e.attach(p.en.key, s)
	p.e.recordTracks(p.en.key, tracks)
	p.e.startABR(p.en, s)
	return s, nil
}

func (p *publication) End(err error) {
	p.endOnce.Do(func() {
		e, en := p.e, p.en
		e.mu.Lock()
		if e.live[en.key] == en {
			delete(e.live, en.key)
		}
		// Until its end is recorded, the heartbeat's sweep must not take
		// the broadcast for one left over by a crash.
		e.ending[en.key]++
		defer func() {
			e.mu.Lock()
			if e.ending[en.key]--; e.ending[en.key] <= 0 {
				delete(e.ending, en.key)
			}
			e.mu.Unlock()
		}()
		s := en.s
		e.mu.Unlock()
		e.stopABR(en) // renditions end (and release their claims) first
		if s != nil {
			s.Close()
		}
		status := stream.StatusFinished
		if err != nil {
			status = stream.StatusFailed
		}
		e.log.Info("publish ended", "stream", en.key.String(), "status", status, "err", err)
		ctx, cancel := storeCtx()
		defer cancel()
		now := e.cfg.Now()
		if _, uerr := e.deps.Store.UpdateBroadcast(ctx, en.key, false, now, func(b *stream.Broadcast) error {
			if b.OriginNode != string(e.cfg.Self.ID) || !b.Live() {
				return errNoChange
			}
			return b.Transition(status, now)
		}); uerr != nil && !errors.Is(uerr, errNoChange) {
			e.log.Warn("cannot record end of broadcast", "stream", en.key.String(), "err", uerr)
		}
		if rerr := e.deps.Store.Release(ctx, en.key, e.cfg.Self.ID); rerr != nil && !errors.Is(rerr, origin.ErrNotOwner) {
			e.log.Warn("cannot release origin claim", "stream", en.key.String(), "err", rerr)
		}
		close(en.ended)
	})
}

// errNoChange aborts an UpdateBroadcast that has nothing to do.
var errNoChange = errors.New("no change")

// attach hands a stream that went live to every output.
func (e *Engine) attach(key stream.Key, s *media.Stream) {
	for _, o := range e.deps.Outputs {
		o.Attach(key, s)
	}
}

// recordTracks stores what the tracks say about the broadcast (size, codecs).
func (e *Engine) recordTracks(key stream.Key, tracks []media.Track) {
	ctx, cancel := storeCtx()
	defer cancel()
	now := e.cfg.Now()
	_, err := e.deps.Store.UpdateBroadcast(ctx, key, false, now, func(b *stream.Broadcast) error {
		for _, t := range tracks {
			if t.IsVideo() {
				b.VideoCodec = string(t.Codec)
				b.Width, b.Height = t.Width, t.Height
				if (b.Width == 0 || b.Height == 0) && t.Codec == media.H264 && len(t.SPS) > 0 {
					if w, h, err := codec.SPSSize(t.SPS); err == nil {
						b.Width, b.Height = w, h
					}
				}
			} else {
				b.AudioCodec = string(t.Codec)
			}
		}
		b.UpdatedAt = now
		return nil
	})
	if err != nil {
		e.log.Warn("cannot record stream tracks", "stream", key.String(), "err", err)
	}
}
