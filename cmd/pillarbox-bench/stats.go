package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// latencySummary describes a set of measured latencies.
type latencySummary struct {
	Count                    int
	Mean, P50, P90, P99, Max time.Duration
}

// summarize sorts d in place and describes it. An empty d gives zeros.
func summarize(d []time.Duration) latencySummary {
	slices.Sort(d)
	s := latencySummary{Count: len(d)}
	if len(d) == 0 {
		return s
	}
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	s.Mean = sum / time.Duration(len(d))
	s.P50 = percentile(d, 50)
	s.P90 = percentile(d, 90)
	s.P99 = percentile(d, 99)
	s.Max = d[len(d)-1]
	return s
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value that at least p% of the values
// do not exceed. It is always one of the measured values, never an
// interpolation between two.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ms formats a latency in milliseconds with microsecond resolution, the
// unit the summary and the JSON line share.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func (s latencySummary) String() string {
	return fmt.Sprintf("p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  (mean %.3f ms)",
		ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max), ms(s.Mean))
}
