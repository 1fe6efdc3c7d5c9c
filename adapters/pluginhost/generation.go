package pluginhost

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// generation is one plugin process serving one session, from its start
// until it dies, hangs, or is replaced (a restart or a Swap). A session
// feeds one generation at a time, switching at a source keyframe.
type generation struct {
	n      int
	plugin string
	proc   *proc
	sess   transcoderv1.Session
	ctx    context.Context // the gRPC stream's
	stop   context.CancelFunc

	// promoted receives the generation this one replaces when the feeder
	// switches to it; its receiver writes nothing before that one is done.
	promoted chan *generation
	recvDone chan struct{} // the receiver has ended

	dead     chan struct{}
	deadOnce sync.Once
	err      error // why it died, set before dead is closed

	killOnce sync.Once

	fed        atomic.Bool // got its first unit (a keyframe)
	sendErr    atomic.Pointer[sendFailure]
	closedSend atomic.Bool // its input is closed: it flushes and ends
	outputs    atomic.Uint64

	// Stall detection, unix nanoseconds (0: none).
	sendStart    atomic.Int64 // a Send in progress since
	pendingSince atomic.Int64 // fed without output since
	lastIn       atomic.Int64

	keyed []bool // receiver only: per rendition, the first video keyframe was written
}

// sendFailure is a Send that failed: the receiver usually learns why the
// plugin went away a moment later, so the generation is failed with the
// Send's error only if it does not.
type sendFailure struct {
	err error
	at  time.Time
}

// fail marks the generation dead with err (the first call wins).
func (g *generation) fail(err error) {
	g.deadOnce.Do(func() {
		g.err = err
		close(g.dead)
	})
}

func (g *generation) isDead() bool {
	select {
	case <-g.dead:
		return true
	default:
		return false
	}
}

// send passes one unit, keeping the stall-detection clocks.
func (g *generation) send(u *transcoderv1.Unit, stall time.Duration) error {
	now := time.Now().UnixNano()
	if g.pendingSince.Load() == 0 || now-g.lastIn.Load() > int64(stall/2) {
		g.pendingSince.Store(now)
	}
	g.lastIn.Store(now)
	g.sendStart.Store(now)
	err := g.sess.Send(u)
	g.sendStart.Store(0)
	return err
}

// gotOutput notes that the plugin answered.
func (g *generation) gotOutput() {
	g.outputs.Add(1)
	g.pendingSince.Store(0)
}

// stalled says why the generation looks hung, or "".
func (g *generation) stalled(now time.Time, stall time.Duration) string {
	n := now.UnixNano()
	if s := g.sendStart.Load(); s != 0 && n-s > int64(stall) {
		return "the plugin has not taken a unit for " + time.Duration(n-s).Round(time.Millisecond).String()
	}
	if p := g.pendingSince.Load(); p != 0 && n-p > int64(stall) && n-g.lastIn.Load() < int64(stall/2) {
		return "the plugin has been fed for " + time.Duration(n-p).Round(time.Millisecond).String() + " without output"
	}
	return ""
}

// closeInput ends the generation's input: it flushes and its stream ends.
func (g *generation) closeInput() {
	if g.closedSend.CompareAndSwap(false, true) {
		_ = g.sess.CloseSend()
	}
}
