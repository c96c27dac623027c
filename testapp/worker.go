//go:build app_worker

// The example's worker app: a loop doing one unit of work per second, counted in /metrics.
package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

const workerVersion = "1.0.0"

var jobsDone atomic.Int64

func init() {
	role = appRole{name: "worker", version: workerVersion, start: workLoop, metrics: workerMetrics}
}

func workLoop(a *app) {
	for !a.draining.Load() {
		time.Sleep(time.Second)
		jobsDone.Add(1)
	}
}

func workerMetrics(w io.Writer, labels string) {
	fmt.Fprintf(w, "# HELP worker_jobs_total Units of work the loop has done.\n# TYPE worker_jobs_total counter\n"+
		"worker_jobs_total{%s} %d\n", labels, jobsDone.Load())
}
