package rest

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of the failed-credentials limit (AccessConfig.LoginFailures and LoginBackoff).
const (
	DefaultLoginFailures = 5
	DefaultLoginBackoff  = 12 * time.Second
)

// maxLimited bounds the addresses the limiter remembers.
const maxLimited = 10000

// failureLimiter is a token bucket of failed credentials per client
// address: each failed login or bad token takes a token, one comes back
// every refill, and an address with none left is answered 429 until then.
// Successes take nothing.
type failureLimiter struct {
	burst  float64
	refill time.Duration

	mu      sync.Mutex
	buckets map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newFailureLimiter(burst int, refill time.Duration) *failureLimiter {
	return &failureLimiter{burst: float64(burst), refill: refill, buckets: map[string]bucket{}}
}

// level returns addr's bucket at now (unlocked).
func (l *failureLimiter) level(addr string, now time.Time) bucket {
	b, ok := l.buckets[addr]
	if !ok {
		return bucket{tokens: l.burst, at: now}
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(d)/float64(l.refill))
		b.at = now
	}
	return b
}

// wait returns how long addr must wait before its next try (0: it may try now).
func (l *failureLimiter) wait(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.level(addr, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.refill))
}

// fail takes a token from addr.
func (l *failureLimiter) fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.level(addr, now)
	b.tokens = math.Max(0, b.tokens-1)
	if len(l.buckets) >= maxLimited {
		l.prune(now)
	}
	l.buckets[addr] = b
}

// prune forgets the full buckets, and if that is not enough, all of them
// (unlocked).
func (l *failureLimiter) prune(now time.Time) {
	for a := range l.buckets {
		if l.level(a, now).tokens >= l.burst {
			delete(l.buckets, a)
		}
	}
	if len(l.buckets) >= maxLimited {
		clear(l.buckets)
	}
}

// tooMany answers 429 with Retry-After in whole seconds.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeJSON(w, http.StatusTooManyRequests, Result{Message: "too many failed logins or bad tokens from this address: retry in " + strconv.Itoa(max(secs, 1)) + " s", ErrorID: http.StatusTooManyRequests})
}
