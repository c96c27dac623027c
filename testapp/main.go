// Command testapp is the project's own test service (issue #21): a tiny static HTTP server
// whose answers say which release served them, so a load generator can tell, request by
// request, whether a swap lost anything and when the cutover happened.
//
//	GET /         {"version", "release", "pod", "env", "config"} of this process
//	GET /healthz  200 once started (liveness)
//	GET /ready    200 when ready; 503 while starting, draining or if told never to be ready
//	GET /metrics  Prometheus text, every series labelled with version and release
//
// Behaviour comes from the environment, so an image can bake it in (its config's Env) and a
// stack can override it (the container's env):
//
//	PORT (8080)                       listen port
//	TESTAPP_VERSION                   the release's version (baked into each image)
//	IMMUTABLE_RELEASE                 the release id (pod label, via the downward API); else "unknown"
//	TESTAPP_START_DELAY_SECONDS (0)   not ready (and /healthz 503) for this long after start
//	TESTAPP_NEVER_READY (unset)       /ready answers 503 forever
//	TESTAPP_CONFIG_DIR (/etc/app)     files reported on / (a release's config)
//	TESTAPP_DRAIN_SECONDS (2)         after SIGTERM: /ready 503, keep serving this long, then exit
//	TESTAPP_ERROR_RATIO (0)           fraction of application requests answered 500 (metrics.go)
//
// Multi-call: as `healthcheck` or `ready` (first argument) it GETs its own /healthz or /ready
// on 127.0.0.1 and exits 0/1, for exec probes; as `version` it prints its version. Unknown flags
// (a worker's --queue ...) are accepted and reported, so one image serves every service of the
// example stacks.
//
// The example apps (web.go, api.go, worker.go) are this server plus one file of their own,
// compiled in by a build tag (`go build -tags app_web`): each app's binary holds only its own
// code, so a change to one app's source changes that app's image and no other (registry/apps.py).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// appRole is one example app's own behaviour, set by its file's init (behind its build tag).
// Without a tag it is empty: the plain test app.
type appRole struct {
	name, version string
	root          func(a *app, r *http.Request) (code int, body []byte, contentType string) // GET /
	start         func(a *app)                                                              // background work
	metrics       func(w io.Writer, labels string)                                          // extra series
}

var role appRole

type app struct {
	version, release, pod string
	started               time.Time
	startDelay            time.Duration
	neverReady            bool
	configDir             string
	args                  []string
	draining              atomic.Bool
	mu                    sync.Mutex
	requests              map[string]int64 // "path code" -> count
	http                  *httpMetrics     // application metrics and the injected errors (metrics.go)
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

func seconds(key string, def float64) time.Duration {
	v, err := strconv.ParseFloat(envOr(key, ""), 64)
	if err != nil {
		v = def
	}
	return time.Duration(v * float64(time.Second))
}

func (a *app) ready() bool {
	return !a.neverReady && !a.draining.Load() && time.Since(a.started) >= a.startDelay
}

// report is what / answers: enough to attribute the answer to one release.
func (a *app) report() map[string]any {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		// Values of anything that looks secret are never echoed.
		upper := strings.ToUpper(k)
		if strings.Contains(upper, "PASSWORD") || strings.Contains(upper, "SECRET") || strings.Contains(upper, "TOKEN") ||
			strings.Contains(upper, "KEY") || strings.HasPrefix(upper, "DATABASE_URL") {
			v = "***"
		}
		env[k] = v
	}
	config := map[string]string{}
	entries, _ := os.ReadDir(a.configDir)
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), "..") {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(a.configDir, e.Name())); err == nil {
			config[e.Name()] = string(b)
		}
	}
	return map[string]any{"version": a.version, "release": a.release, "pod": a.pod, "env": env,
		"config": config, "args": a.args, "ready": a.ready(), "uptime_seconds": time.Since(a.started).Seconds()}
}

func (a *app) count(path string, code int) {
	a.mu.Lock()
	a.requests[fmt.Sprintf("%s %d", path, code)]++
	a.mu.Unlock()
}

func (a *app) metrics(w http.ResponseWriter) {
	labels := fmt.Sprintf(`version=%q,release=%q,pod=%q`, a.version, a.release, a.pod)
	a.mu.Lock()
	keys := make([]string, 0, len(a.requests))
	for k := range a.requests {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "# HELP testapp_requests_total Requests served, by path and status code.\n# TYPE testapp_requests_total counter\n")
	for _, k := range keys {
		path, code, _ := strings.Cut(k, " ")
		fmt.Fprintf(w, "testapp_requests_total{%s,path=%q,code=%q} %d\n", labels, path, code, a.requests[k])
	}
	a.mu.Unlock()
	ready := 0
	if a.ready() {
		ready = 1
	}
	fmt.Fprintf(w, "# HELP testapp_ready 1 when /ready answers 200.\n# TYPE testapp_ready gauge\ntestapp_ready{%s} %d\n", labels, ready)
	a.http.write(w, labels)
	fmt.Fprintf(w, "# HELP testapp_info The release this process serves.\n# TYPE testapp_info gauge\ntestapp_info{%s} 1\n", labels)
	if role.metrics != nil {
		role.metrics(w, labels)
	}
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := http.StatusOK
	var body []byte
	switch r.URL.Path {
	case "/healthz":
		if time.Since(a.started) < a.startDelay {
			code = http.StatusServiceUnavailable
		}
		body = []byte("ok\n")
	case "/ready":
		if !a.ready() {
			code = http.StatusServiceUnavailable
		}
		body = []byte(fmt.Sprintf("ready=%v\n", code == 200))
	case "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.WriteHeader(code)
		a.metrics(w)
		a.count(r.URL.Path, code)
		return
	default:
		if a.http.shouldFail() {
			code = http.StatusInternalServerError
		}
		body, _ = json.Marshal(a.report())
		body = append(body, '\n')
		w.Header().Set("Content-Type", "application/json")
	}
	if role.root != nil && r.URL.Path == "/" && code == http.StatusOK {
		// An example app answers / itself (web's page, api's digest of its mounts).
		var ctype string
		code, body, ctype = role.root(a, r)
		w.Header().Set("Content-Type", ctype)
	}
	w.Header().Set("X-Release", a.release)
	w.Header().Set("X-Version", a.version)
	w.WriteHeader(code)
	_, _ = w.Write(body)
	a.count(r.URL.Path, code)
	if r.URL.Path != "/healthz" && r.URL.Path != "/ready" {
		a.http.observe(code, time.Since(start))
	}
	if r.URL.Path == "/" {
		// One JSON line per request, labelled with the release: `kubectl logs -l immutable.dev/release=...`.
		line, _ := json.Marshal(map[string]any{"ts": start.UTC().Format(time.RFC3339Nano), "release": a.release,
			"version": a.version, "pod": a.pod, "method": r.Method, "path": r.URL.Path, "code": code,
			"remote": r.RemoteAddr, "duration_ms": float64(time.Since(start).Microseconds()) / 1000})
		fmt.Println(string(line))
	}
}

func probe(path string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + envOr("PORT", "8080") + path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		fmt.Fprintln(os.Stderr, path, resp.Status)
		return 1
	}
	return 0
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && (args[0] == "healthcheck" || args[0] == "ready") {
		os.Exit(probe(map[string]string{"healthcheck": "/healthz", "ready": "/ready"}[args[0]]))
	}
	host, _ := os.Hostname()
	a := &app{
		version: envOr("TESTAPP_VERSION", "dev"), release: envOr("IMMUTABLE_RELEASE", "unknown"), pod: host,
		started: time.Now(), startDelay: seconds("TESTAPP_START_DELAY_SECONDS", 0),
		neverReady: envOr("TESTAPP_NEVER_READY", "") != "", configDir: envOr("TESTAPP_CONFIG_DIR", "/etc/app"),
		args: args, requests: map[string]int64{}, http: newHTTPMetrics(errorRatioFromEnv()),
	}
	if role.version != "" && os.Getenv("TESTAPP_VERSION") == "" {
		a.version = role.version // an example app's own version (its file's constant)
	}
	if len(args) > 0 && args[0] == "version" {
		fmt.Println(a.version)
		return
	}
	ln, err := net.Listen("tcp", ":"+envOr("PORT", "8080"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second}
	if role.start != nil {
		go role.start(a)
	}
	fmt.Printf(`{"msg":"testapp started","version":%q,"release":%q,"pod":%q,"start_delay_s":%g,"never_ready":%v}`+"\n",
		a.version, a.release, a.pod, a.startDelay.Seconds(), a.neverReady)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		// Not ready first, keep serving while endpoints converge, then stop accepting.
		a.draining.Store(true)
		time.Sleep(seconds("TESTAPP_DRAIN_SECONDS", 2))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(1)
	}
}
