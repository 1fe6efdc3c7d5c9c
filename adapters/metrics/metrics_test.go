package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/ports/portstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRegistryAndInstrumentedStore(t *testing.T) {
	r := New()
	r.Gauge("test_gauge", "A gauge.", func() float64 { return 42 })
	r.Counter("test_total", "A counter.", func() float64 { return 7 })
	s := r.InstrumentStore(portstest.NewMemStore())
	ctx := context.Background()
	_ = s.Register(ctx, node.Node{ID: "a"})
	for i := 0; i < 3; i++ {
		_, _ = s.Nodes(ctx)
	}
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		"colony_test_gauge 42", "colony_test_total 7",
		`colony_store_ops_total{op="nodes"} 3`, `colony_store_ops_total{op="register"} 1`,
		`colony_store_op_seconds_count{op="nodes"} 3`, "go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
