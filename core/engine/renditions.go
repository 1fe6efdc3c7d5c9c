package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Adaptive bitrate. A publication whose ladder is not empty is transcoded,
// in a goroutine the engine owns, for as long as it lives. Each rendition
// is published on this node as a live stream of its own, keyed
// {id}_{name} (stream1_480p, as Ant Media names them): it is claimed in the
// store like a publish, so edges find its origin and pull it like any
// stream, and the outputs attach to it (HLS muxes each). It has no
// broadcast record. When the source ends, its renditions end: their claims
// are released and their entries removed. A transcoder failure is logged
// and leaves the source playing; the engine transcodes again after
// TranscodeRetry (doubling, up to maxTranscodeRetry), and gives up after
// maxTranscodeFailures failures in a row.
//
// The renditions are kept in memory on the origin (Renditions, for the
// REST API's stream-info). Other nodes discover them through the store:
// RenditionKeys lists the origin's claims named {id}_{N}p.

// LadderFunc returns the ABR ladder of a stream: the broadcast's own,
// else its application's. An empty ladder: the stream is not transcoded.
type LadderFunc func(ctx context.Context, key stream.Key) ([]stream.Rendition, error)

// PublishTranscode is the publish type of a rendition's entry.
const PublishTranscode = "Transcode"

const (
	// maxTranscodeRetry bounds the wait between transcoding attempts.
	maxTranscodeRetry = 30 * time.Second
	// maxTranscodeFailures ends the attempts after this many failures in
	// a row (a source or ladder the transcoder cannot handle).
	maxTranscodeFailures = 3
)

// abrRun is the transcoding of one publication.
type abrRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// RenditionKey returns the key of key's rendition name: {id}_{name}.
func RenditionKey(key stream.Key, name string) (stream.Key, error) {
	id, err := stream.ParseID(string(key.ID) + "_" + name)
	if err != nil {
		return stream.Key{}, err
	}
	return stream.Key{App: key.App, ID: id}, nil
}

// renditionHeight returns N when id is parent's rendition {parent}_{N}p.
func renditionHeight(parent, id stream.ID) (int, bool) {
	rest, ok := strings.CutPrefix(string(id), string(parent)+"_")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, "p")
	if !ok || num == "" || len(num) > 5 {
		return 0, false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(num)
	return n, err == nil && n > 0
}

// startABR starts transcoding a publication that has just started, when
// a transcoder and a ladder source are configured.
func (e *Engine) startABR(en *entry, s *media.Stream) {
	if e.deps.Transcoder == nil || e.deps.Ladder == nil {
		return
	}
	ctx, cancel := context.WithCancel(e.runCtx) // drain ends it too
	run := &abrRun{cancel: cancel, done: make(chan struct{})}
	e.mu.Lock()
	if e.stopping || e.live[en.key] != en {
		e.mu.Unlock()
		cancel()
		return
	}
	en.abr = run
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		defer close(run.done)
		defer cancel()
		e.runABR(ctx, en.key, s)
	}()
}

// stopABR ends a publication's transcoding and waits until its renditions
// are gone.
func (e *Engine) stopABR(en *entry) {
	e.mu.Lock()
	run := en.abr
	e.mu.Unlock()
	if run == nil {
		return
	}
	run.cancel()
	<-run.done
}

// runABR transcodes key until ctx ends or the source does, again after
// each failure (see the top of this file).
func (e *Engine) runABR(ctx context.Context, key stream.Key, src *media.Stream) {
	log := e.log.With("stream", key.String())
	backoff := e.cfg.TranscodeRetry
	failures := 0
	for {
		ladder, err := e.deps.Ladder(ctx, key)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			log.Warn("cannot read the ABR ladder; the source plays on", "err", err)
		case len(ladder) == 0:
			return
		default:
			// One session per attempt: cancelling it ends its renditions.
			actx, acancel := context.WithCancel(ctx)
			rs, err := e.deps.Transcoder.Transcode(actx, key, src, ladder)
			var why error
			if err == nil && ctx.Err() == nil {
				why = e.serveRenditions(ctx, key, rs, log)
			}
			acancel()
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				failures++
				log.Warn("transcoding failed; the source plays on", "err", err, "failures", failures)
			case why != nil:
				failures++
				log.Warn("renditions not published; the source plays on", "err", why, "failures", failures)
			default:
				failures, backoff = 0, e.cfg.TranscodeRetry
				log.Warn("renditions ended while the source is live; transcoding again")
			}
		}
		if failures >= maxTranscodeFailures {
			log.Error("giving up transcoding this stream; the source plays on", "failures", failures)
			return
		}
		select {
		case <-src.Done():
			return
		default:
		}
		if !sleepCtx(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, maxTranscodeRetry)
	}
}

// closeRenditions closes the streams of a Transcode that is not used.
func closeRenditions(rs []ports.Rendition, err error) {
	if err != nil {
		return
	}
	for _, r := range rs {
		if r.Stream != nil {
			r.Stream.Close()
		}
	}
}

// serveRenditions publishes rs as renditions of key and waits until one of
// them ends (the transcoder's session ended: the source ended or the
// transcoder gave up), one is kicked (its claim was lost), or ctx ends;
// then it ends them all. It returns an error when none could be published.
func (e *Engine) serveRenditions(ctx context.Context, key stream.Key, rs []ports.Rendition, log *slog.Logger) error {
	var (
		ens  []*entry
		pub  []ports.Rendition
		errs []error
	)
	for _, r := range rs {
		en, err := e.publishRendition(ctx, key, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
			continue
		}
		ens = append(ens, en)
		pub = append(pub, r)
	}
	defer closeRenditions(rs, nil)
	if len(ens) == 0 {
		return errors.Join(errs...)
	}
	if len(errs) > 0 {
		log.Warn("some renditions not published", "err", errors.Join(errs...))
	}
	e.mu.Lock()
	e.rends[key] = pub
	e.mu.Unlock()
	names := make([]string, len(pub))
	for i, r := range pub {
		names[i] = r.Name
	}
	log.Info("renditions published", "renditions", names)

	// Wake on the first rendition that ends or is kicked.
	wake := make(chan struct{})
	stop := make(chan struct{})
	for _, en := range ens {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			select {
			case <-en.s.Done():
			case <-en.kick:
			case <-stop:
				return
			}
			select {
			case wake <- struct{}{}:
			case <-stop:
			}
		}()
	}
	select {
	case <-ctx.Done():
	case <-wake:
	}
	close(stop)
	e.mu.Lock()
	delete(e.rends, key)
	e.mu.Unlock()
	for _, en := range ens {
		e.endRendition(en)
	}
	log.Info("renditions ended", "renditions", names)
	return nil
}

// publishRendition makes r a live stream of this node, claimed like a publish.
func (e *Engine) publishRendition(ctx context.Context, parent stream.Key, r ports.Rendition) (*entry, error) {
	if r.Stream == nil {
		return nil, errors.New("no stream")
	}
	key, err := RenditionKey(parent, r.Name)
	if err != nil {
		return nil, err
	}
	en := &entry{key: key, publishType: PublishTranscode, rendition: true, s: r.Stream,
		started: make(chan struct{}), kick: make(chan struct{}), ended: make(chan struct{})}
	close(en.started)
	// claimMu keeps reconcileClaims from seeing the entry before its claim.
	e.claimMu.RLock()
	e.mu.Lock()
	if e.stopping {
		e.mu.Unlock()
		e.claimMu.RUnlock()
		return nil, fmt.Errorf("%w: node is shutting down", ports.ErrOverloaded)
	}
	if _, busy := e.live[key]; busy {
		e.mu.Unlock()
		e.claimMu.RUnlock()
		return nil, fmt.Errorf("%w: %s", ports.ErrStreamBusy, key)
	}
	e.live[key] = en
	e.mu.Unlock()
	err = e.timed(func() error {
		_, err := e.deps.Store.Claim(ctx, e.newClaim(key), e.cfg.DeadAfter)
		return err
	})
	e.claimMu.RUnlock()
	if err != nil {
		e.mu.Lock()
		if e.live[key] == en {
			delete(e.live, key)
		}
		e.mu.Unlock()
		close(en.ended)
		return nil, fmt.Errorf("claim %s: %w", key, err)
	}
	e.attach(key, r.Stream)
	return en, nil
}

// endRendition removes a rendition's entry, closes its stream and
// releases its claim.
func (e *Engine) endRendition(en *entry) {
	e.mu.Lock()
	if e.live[en.key] == en {
		delete(e.live, en.key)
	}
	e.mu.Unlock()
	en.s.Close()
	ctx, cancel := storeCtx()
	defer cancel()
	if err := e.deps.Store.Release(ctx, en.key, e.cfg.Self.ID); err != nil {
		e.log.Debug("cannot release rendition claim", "stream", en.key.String(), "err", err)
	}
	close(en.ended)
}

// Renditions returns the renditions of key published on this node, as
// the transcoder made them (nil when none). It implements the REST API's
// RenditionLister.
func (e *Engine) Renditions(key stream.Key) []ports.Rendition {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.rends[key])
}

// RenditionKeys returns the keys of key's renditions that are live,
// tallest first: from memory when key is published here, else (on a node
// that pulls) from the store, as the claims of key's origin named
// {id}_{N}p. On such a node the renditions found make one family with key
// for idle pulls: none of them stops while any of them is watched.
func (e *Engine) RenditionKeys(ctx context.Context, key stream.Key) ([]stream.Key, error) {
	e.mu.Lock()
	if en := e.live[key]; en != nil && !en.pulled {
		var keys []stream.Key
		for _, r := range e.rends[key] {
			if k, err := RenditionKey(key, r.Name); err == nil {
				keys = append(keys, k)
			}
		}
		e.mu.Unlock()
		sortByHeight(key, keys)
		return keys, nil
	}
	e.mu.Unlock()
	if e.deps.Puller == nil {
		return nil, nil
	}
	var keys []stream.Key
	err := e.timed(func() error {
		c, err := e.deps.Store.Origin(ctx, key)
		if err != nil {
			return err
		}
		claims, err := e.deps.Store.Claims(ctx, c.Node)
		if err != nil {
			return err
		}
		for _, rc := range claims {
			if _, ok := renditionHeight(key.ID, rc.Stream.ID); ok && rc.Stream.App == key.App {
				keys = append(keys, rc.Stream)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ports.ErrNotFound) || errors.Is(err, origin.ErrNoClaim) {
			return nil, nil
		}
		return nil, fmt.Errorf("renditions of %s: %w", key, err)
	}
	sortByHeight(key, keys)
	e.mu.Lock()
	for k, p := range e.family {
		if p == key {
			delete(e.family, k)
		}
	}
	for _, k := range keys {
		e.family[k] = key
	}
	e.mu.Unlock()
	return keys, nil
}

// sortByHeight sorts renditions of parent tallest first.
func sortByHeight(parent stream.Key, keys []stream.Key) {
	slices.SortFunc(keys, func(a, b stream.Key) int {
		ha, _ := renditionHeight(parent.ID, a.ID)
		hb, _ := renditionHeight(parent.ID, b.ID)
		return hb - ha
	})
}

// familyViewers counts the viewers of key, of the stream key is a
// rendition of, and of that stream's renditions.
func (e *Engine) familyViewers(key stream.Key) int {
	e.mu.Lock()
	parent, ok := e.family[key]
	if !ok {
		parent = key
	}
	keys := []stream.Key{parent}
	for k, p := range e.family {
		if p == parent {
			keys = append(keys, k)
		}
	}
	e.mu.Unlock()
	total := 0
	for _, k := range keys {
		n, _ := e.viewers(k)
		total += n
	}
	return total
}

// forgetFamily drops key from the families (its pull ended). e.mu is held.
func (e *Engine) forgetFamily(key stream.Key) {
	delete(e.family, key)
	for k, p := range e.family {
		if p == key {
			delete(e.family, k)
		}
	}
}
