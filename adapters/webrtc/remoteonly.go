package webrtc

import (
	"sync"

	"github.com/pion/interceptor"
)

// remoteOnly wraps the factory of an interceptor that works only on
// remote (received) streams and runs a goroutine from BindRTCPWriter on
// (pion's NACK generator ticks every 100 ms, its receiver reports every
// second): the interceptor gets its RTCP writer only when the first
// remote stream is bound, so a viewer's connection, which receives
// nothing, runs no such goroutine. The wrapped interceptor's
// BindRTCPWriter must return the writer it is given (it only writes).
type remoteOnly struct{ f interceptor.Factory }

func (r remoteOnly) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := r.f.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return &lazyRTCP{Interceptor: i}, nil
}

// lazyRTCP holds back BindRTCPWriter until BindRemoteStream.
type lazyRTCP struct {
	interceptor.Interceptor

	mu    sync.Mutex
	w     interceptor.RTCPWriter
	bound bool
}

func (l *lazyRTCP) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bound {
		return l.Interceptor.BindRTCPWriter(w)
	}
	l.w = w
	return w
}

func (l *lazyRTCP) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	l.mu.Lock()
	if !l.bound && l.w != nil {
		l.Interceptor.BindRTCPWriter(l.w)
		l.bound, l.w = true, nil
	}
	l.mu.Unlock()
	return l.Interceptor.BindRemoteStream(info, r)
}
