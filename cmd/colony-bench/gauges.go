package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// gaugeReadings is one of the server's gauges over a run.
type gaugeReadings struct {
	Before float64 `json:"before"` // before the viewers joined
	End    float64 `json:"end"`    // at the end of the window
	// After is the value once the viewers had left: the first reading at
	// which every gauge was back to at most its Before, or the last one
	// when the settle limit passed first; AfterS is how long after the
	// viewers stopped that reading came.
	After  float64 `json:"after"`
	AfterS float64 `json:"after_s"`
}

// maxMetricsPage bounds the Prometheus page read.
const maxMetricsPage = 8 << 20

// gaugeReader reads named gauges from a server's Prometheus text page.
// A name's series are summed over their labels.
type gaugeReader struct {
	url    string
	names  []string
	client *http.Client
	// settle bounds the wait for the gauges to come back after a run.
	settle time.Duration
}

// read returns the gauges named, each summed over its series; a name the
// page does not have is an error (a typo would otherwise read as zero).
func (g *gaugeReader) read(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxMetricsPage))
		return nil, fmt.Errorf("server metrics: %w", &statusError{Code: resp.StatusCode, URL: g.url})
	}
	return parseGauges(io.LimitReader(resp.Body, maxMetricsPage), g.names)
}

// parseGauges reads a Prometheus text page and sums each named family's
// gauge, counter or untyped values.
func parseGauges(r io.Reader, names []string) (map[string]float64, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("server metrics: %w", err)
	}
	out := make(map[string]float64, len(names))
	for _, n := range names {
		f, ok := fams[n]
		if !ok {
			return nil, fmt.Errorf("server metrics: no %q", n)
		}
		var sum float64
		for _, m := range f.GetMetric() {
			v, ok := value(f.GetType(), m)
			if !ok {
				return nil, fmt.Errorf("server metrics: %q is a %s, not a single value", n, strings.ToLower(f.GetType().String()))
			}
			sum += v
		}
		out[n] = sum
	}
	return out, nil
}

// value is a gauge's, counter's or untyped metric's value; ok is false
// for the other types (summaries, histograms).
func value(t dto.MetricType, m *dto.Metric) (v float64, ok bool) {
	switch t {
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue(), true
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue(), true
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

// settled reads the gauges until each is at most its value in before, or
// until g.settle has passed since start, and returns the last reading
// and when it was taken.
func (g *gaugeReader) settled(ctx context.Context, before map[string]float64, start time.Time) (map[string]float64, time.Duration, error) {
	for {
		now, err := g.read(ctx)
		at := time.Since(start)
		if err != nil {
			return nil, at, err
		}
		back := true
		for n, v := range now {
			back = back && v <= before[n]
		}
		if back || at >= g.settle || !sleepCtx(ctx, 250*time.Millisecond) {
			return now, at, nil
		}
	}
}
