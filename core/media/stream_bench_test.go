package media

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkFanout measures one writer feeding N readers that each drain
// their queue in their own goroutine: ns and allocations per unit written.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			s := NewStream(avTracks, StreamConfig{QueueSize: 1024})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				r, err := s.Subscribe()
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer r.Close()
					_ = r.Run(ctx, func(*Unit) error { return nil })
				}()
			}
			units := gop(0, 30)
			payload := make([]byte, 8000)
			for _, u := range units {
				u.Data = payload
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				u := units[i%len(units)]
				s.Write(u)
			}
			b.StopTimer()
			cancel()
			s.Close()
			wg.Wait()
		})
	}
}
