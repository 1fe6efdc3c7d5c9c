package client

import (
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// rtcpCounts counts the feedback a session sends: NACKs (one per packet
// asked for) and keyframe requests.
type rtcpCounts struct {
	nacked atomic.Int64
	plis   atomic.Int64
}

// rtcpCounter is an interceptor factory that counts the RTCP written.
type rtcpCounter struct{ c *rtcpCounts }

func (f rtcpCounter) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &rtcpCounterInterceptor{c: f.c}, nil
}

type rtcpCounterInterceptor struct {
	interceptor.NoOp
	c *rtcpCounts
}

func (i *rtcpCounterInterceptor) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				for _, pair := range p.Nacks {
					i.c.nacked.Add(int64(len(pair.PacketList())))
				}
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				i.c.plis.Add(1)
			}
		}
		return w.Write(pkts, a)
	})
}
