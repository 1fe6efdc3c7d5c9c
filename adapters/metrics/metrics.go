// Package metrics exposes Colony's counters to Prometheus at /metrics.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds the node's metrics. Values are read from the components at
// scrape time, so nothing is counted twice and the hot paths only touch
// their own atomics.
type Registry struct {
	reg *prometheus.Registry
}

// New returns a registry with Go runtime and process metrics.
func New() *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{reg: reg}
}

// Gauge adds a gauge named colony_<name> read from f.
func (r *Registry) Gauge(name, help string, f func() float64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "colony", Name: name, Help: help}, f))
}

// Counter adds a counter named colony_<name> read from f (which must never decrease).
func (r *Registry) Counter(name, help string, f func() float64) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "colony", Name: name, Help: help}, f))
}

// Handler serves the metrics in the Prometheus text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}
