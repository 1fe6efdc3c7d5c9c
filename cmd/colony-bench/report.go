package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// writeJSONLine writes r as one line of JSON.
func writeJSONLine(w io.Writer, r result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeTable prints results side by side, one row per run.
func writeTable(w io.Writer, rs []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "label\tmode\tviewers\tconn\tactive\tfail\tMbit/s\tfps/vwr\taud/s\tloss%\tstalls\trebuf\tttff p50\tp95\tafter conn\tafter hs\tlat p50\tp95\tmax\tarrive p50\tp95\tsrv cores\tmain\tsrv peak MB\tgen cores\t")
	for _, r := range rs {
		srvCores, srvMain, srvMB := "-", "-", "-"
		if r.Server != nil {
			srvCores = fmt.Sprintf("%.2f", r.Server.Cores)
			srvMain = fmt.Sprintf("%.2f", r.Server.MainCores)
			srvMB = fmt.Sprintf("%.0f", float64(r.Server.PeakRSS)/(1<<20))
		}
		lat := func(v float64) string {
			if !r.Stamped {
				return "-"
			}
			return fmt.Sprintf("%.0f", v)
		}
		mode := r.Mode
		if r.Churn != "" {
			mode += "@" + r.Churn
		}
		if r.ViewerGRO {
			mode += "+gro"
		}
		if r.Generator.Nice != 0 {
			mode += fmt.Sprintf("+nice%d", r.Generator.Nice)
		}
		aud := "-"
		if r.Mode == modeWHEP || r.Mode == modeWS {
			aud = fmt.Sprintf("%.1f", r.AudioPPS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%s\t%.2f\t%d\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t\n",
			r.Label, mode, r.Viewers, r.Connected, r.Active, r.Failed, r.RxMbps, r.FPSPerVwr, aud, r.LossPct,
			r.Stalls, r.Rebuffers, r.TTFF.P50, r.TTFF.P95, p50p95(r.TTFFConn), p50p95(r.TTFFHandshake), lat(r.Latency.P50), lat(r.Latency.P95),
			lat(r.Latency.Max), lat(r.RecvLat.P50), lat(r.RecvLat.P95), srvCores, srvMain, srvMB, r.Generator.Cores)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if slices.ContainsFunc(rs, func(r result) bool { return r.Stamped }) {
		if _, err := fmt.Fprintln(w, "after conn: first frame after pion said the connection is up; after hs: the first frame's last packet at the viewer's socket after the viewer sent its last DTLS handshake datagram; lat: send to display; arrive: send to arrival, WebRTC: the frame's last packet at the viewer's UDP socket (kernel timestamp), HLS: the segment or part downloaded"); err != nil {
			return err
		}
	}
	for _, r := range rs {
		for _, line := range []string{churnLine(r), gaugeLine(r), segmentLine(r)} {
			if line == "" {
				continue
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
		}
	}
	for _, r := range rs {
		for _, e := range r.Errors {
			if _, err := fmt.Fprintf(w, "%s %s: %s\n", r.Label, r.name(), e); err != nil {
				return err
			}
		}
		kinds := slices.Collect(maps.Keys(r.ErrorCounts))
		slices.SortFunc(kinds, func(a, b string) int {
			return cmp.Or(r.ErrorCounts[b]-r.ErrorCounts[a], strings.Compare(a, b))
		})
		for _, k := range kinds {
			if _, err := fmt.Fprintf(w, "%s %s: %d viewers failed: %s\n", r.Label, r.name(), r.ErrorCounts[k], k); err != nil {
				return err
			}
		}
	}
	return nil
}

// p50p95 prints a distribution as "p50/p95" in whole milliseconds, or "-"
// if it is empty.
func p50p95(d dist) string {
	if d.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f/%.0f", d.P50, d.P95)
}

// readResults reads JSON lines written by writeJSONLine; other lines are
// skipped.
func readResults(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var res result
		if err := json.Unmarshal(line, &res); err != nil {
			return out, fmt.Errorf("result line: %w", err)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// churnLine describes a churn run's sessions, if it churned.
func churnLine(r result) string {
	if r.Churn == "" {
		return ""
	}
	return fmt.Sprintf("%s %s: %d viewer sessions of %s each, %d played, %d failed; first frame %.0f / %.0f / %.0f ms p50 / p95 / max",
		r.Label, r.name(), r.Sessions, r.Churn, r.Connected, r.Failed, r.TTFF.P50, r.TTFF.P95, r.TTFF.Max)
}

// gaugeLine gives the server's gauges of r, if they were read.
func gaugeLine(r result) string {
	if len(r.ServerGauges) == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(r.ServerGauges))
	parts := make([]string, len(names))
	for i, n := range names {
		g := r.ServerGauges[n]
		parts[i] = fmt.Sprintf("%s %g before, %g at the end, %g %.1f s after the viewers left", n, g.Before, g.End, g.After, g.AfterS)
	}
	return fmt.Sprintf("%s %s: server %s", r.Label, r.name(), strings.Join(parts, "; "))
}

// segmentLine describes the segment probe's figures of r, if it ran.
func segmentLine(r result) string {
	if r.SegmentDelay == nil {
		return ""
	}
	head := fmt.Sprintf("%s %s: segments listed at the played URL", r.Label, r.name())
	counts := fmt.Sprintf("(%d matched, %d only at the reference, %d only at the played URL)",
		r.SegmentsMatched, r.SegmentsRefOnly, r.SegmentsPlayedOnly)
	var line string
	if d := r.SegmentDelay; d.N > 0 {
		line = fmt.Sprintf("%s %.1f ms p50 / %.1f p95 / %.1f max after the reference %s", head, d.P50, d.P95, d.Max, counts)
	} else {
		line = fmt.Sprintf("%s: none matched the reference %s", head, counts)
	}
	if r.SegmentProbeErr != "" {
		line += "; " + r.SegmentProbeErr
	}
	return line
}
