// Application metrics of the test app (issue #33): what a per-release health view and a
// cutover analysis read from Prometheus, in the conventional names any HTTP service exposes:
//
//	http_requests_total{code}              application requests served (probes and /metrics excluded)
//	http_request_errors_total              of those, answered with a 5xx
//	http_request_duration_seconds          latency histogram (le buckets, _sum, _count)
//
// and a fault to inject, so a release can "start and then fail half its requests":
//
//	TESTAPP_ERROR_RATIO (0)   fraction of application requests answered 500, spread evenly
//	                          (0.5 = every second request), deterministic so tests can count
package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"
)

// latencyBuckets are the histogram's upper bounds in seconds: fine below 100 ms, where a
// static answer on the local node lands, coarse above.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

type httpMetrics struct {
	mu         sync.Mutex
	errorRatio float64
	errorDebt  float64 // accumulates errorRatio per request; an error is due at each whole unit
	byCode     map[int]int64
	errors     int64
	buckets    []int64 // cumulative at write time; per-bucket counts here
	sum        float64
	count      int64
}

func newHTTPMetrics(errorRatio float64) *httpMetrics {
	if errorRatio < 0 {
		errorRatio = 0
	}
	if errorRatio > 1 {
		errorRatio = 1
	}
	// The codes this app answers with exist from the start at 0, like the error counter: a series
	// that appears mid-window loses its first increments in increase()/rate(), which made the error
	// ratio of a half-failing release read above 1 (1.065 measured on the real node).
	return &httpMetrics{errorRatio: errorRatio, byCode: map[int]int64{200: 0, 500: 0},
		buckets: make([]int64, len(latencyBuckets)+1)}
}

func errorRatioFromEnv() float64 {
	v, err := strconv.ParseFloat(envOr("TESTAPP_ERROR_RATIO", "0"), 64)
	if err != nil {
		return 0
	}
	return v
}

// shouldFail says whether this application request is one of the injected errors.
func (m *httpMetrics) shouldFail() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errorDebt += m.errorRatio
	if m.errorDebt >= 1-1e-9 {
		m.errorDebt -= 1
		return true
	}
	return false
}

func (m *httpMetrics) observe(code int, d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets, s) // first bound >= s; len() means +Inf only
	m.mu.Lock()
	m.byCode[code]++
	if code >= 500 {
		m.errors++
	}
	m.buckets[i]++
	m.sum += s
	m.count++
	m.mu.Unlock()
}

func (m *httpMetrics) write(w io.Writer, labels string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	codes := make([]int, 0, len(m.byCode))
	for c := range m.byCode {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	fmt.Fprintf(w, "# HELP http_requests_total Application requests served (probes and /metrics excluded), by status code.\n# TYPE http_requests_total counter\n")
	for _, c := range codes {
		fmt.Fprintf(w, "http_requests_total{%s,code=\"%d\"} %d\n", labels, c, m.byCode[c])
	}
	fmt.Fprintf(w, "# HELP http_request_errors_total Application requests answered with a 5xx.\n# TYPE http_request_errors_total counter\n")
	fmt.Fprintf(w, "http_request_errors_total{%s} %d\n", labels, m.errors)
	fmt.Fprintf(w, "# HELP http_request_duration_seconds Application request latency.\n# TYPE http_request_duration_seconds histogram\n")
	var cum int64
	for i, le := range latencyBuckets {
		cum += m.buckets[i]
		fmt.Fprintf(w, "http_request_duration_seconds_bucket{%s,le=\"%g\"} %d\n", labels, le, cum)
	}
	cum += m.buckets[len(latencyBuckets)]
	fmt.Fprintf(w, "http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, cum)
	fmt.Fprintf(w, "http_request_duration_seconds_sum{%s} %g\n", labels, m.sum)
	fmt.Fprintf(w, "http_request_duration_seconds_count{%s} %d\n", labels, m.count)
	fmt.Fprintf(w, "# HELP testapp_error_ratio The injected error ratio (TESTAPP_ERROR_RATIO).\n# TYPE testapp_error_ratio gauge\n")
	fmt.Fprintf(w, "testapp_error_ratio{%s} %g\n", labels, m.errorRatio)
}
