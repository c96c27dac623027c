// Command probe runs a Kubernetes HTTP or TCP probe from inside a container, so that Docker's
// health check (exec form, no shell) gives the same answer as the kubelet would.
//
//	probe http <port> <path> <timeout-seconds>   GET http://127.0.0.1:<port><path>
//	probe tcp <port> <timeout-seconds>           open a TCP connection to 127.0.0.1:<port>
//
// Exit 0: success; 1: failure (the reason on stdout, which Docker keeps in the health log);
// 2: bad arguments. DockerContainerService mounts this static binary read-only into each
// container and makes it the health check, so an image needs neither a shell nor curl.
//
// The rules are the kubelet's (k8s.io/kubernetes pkg/probe/http and pkg/probe/tcp, v1.34):
//   - HTTP: success when 200 <= status < 400. Redirects to the same host are followed (at
//     most 10); a redirect to another host is not followed and counts as success (the
//     kubelet's "Warning", which it treats as success). Anything else, a refused
//     connection or no answer within the timeout is a failure. The body is read up to 10 KiB.
//     Headers: User-Agent kube-probe/1.34, Accept */*; no keep-alive.
//   - TCP: success when the connection opens within the timeout; it is closed at once.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

const (
	host            = "127.0.0.1"
	maxBodyBytes    = 10 * 1024
	maxRedirects    = 10
	userAgent       = "kube-probe/1.34"
	exitSuccess     = 0
	exitFailure     = 1
	exitBadArgument = 2
)

func main() {
	code, message := run(os.Args[1:])
	if message != "" {
		fmt.Println(message)
	}
	os.Exit(code)
}

func run(args []string) (int, string) {
	usage := "usage: probe http <port> <path> <timeout-seconds> | probe tcp <port> <timeout-seconds>"
	if len(args) == 0 {
		return exitBadArgument, usage
	}
	switch {
	case args[0] == "http" && len(args) == 4:
		port, timeout, err := portAndTimeout(args[1], args[3])
		if err != nil || len(args[2]) == 0 || args[2][0] != '/' {
			return exitBadArgument, usage
		}
		return httpProbe(fmt.Sprintf("http://%s%s", net.JoinHostPort(host, strconv.Itoa(port)), args[2]), timeout)
	case args[0] == "tcp" && len(args) == 3:
		port, timeout, err := portAndTimeout(args[1], args[2])
		if err != nil {
			return exitBadArgument, usage
		}
		return tcpProbe(net.JoinHostPort(host, strconv.Itoa(port)), timeout)
	}
	return exitBadArgument, usage
}

func portAndTimeout(p, t string) (int, time.Duration, error) {
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return 0, 0, errors.New("bad port")
	}
	seconds, err := strconv.Atoi(t)
	if err != nil || seconds < 1 {
		return 0, 0, errors.New("bad timeout")
	}
	return port, time.Duration(seconds) * time.Second, nil
}

func httpProbe(url string, timeout time.Duration) (int, string) {
	client := &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// The kubelet's followNonLocalRedirects: stop (and take the 3xx as the answer)
			// when the redirect leaves the probed host, or after 10 hops.
			if req.URL.Hostname() != via[0].URL.Hostname() {
				return http.ErrUseLastResponse
			}
			if len(via) >= maxRedirects {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return exitFailure, err.Error()
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	res, err := client.Do(req)
	if err != nil {
		return exitFailure, "HTTP probe failed: " + err.Error()
	}
	defer res.Body.Close()
	if _, err := io.CopyN(io.Discard, res.Body, maxBodyBytes); err != nil && err != io.EOF {
		return exitFailure, "HTTP probe failed reading the body: " + err.Error()
	}
	if res.StatusCode >= http.StatusOK && res.StatusCode < http.StatusBadRequest {
		return exitSuccess, ""
	}
	return exitFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", res.StatusCode)
}

func tcpProbe(address string, timeout time.Duration) (int, string) {
	conn, err := net.DialTimeout("tcp", address, timeout)
	if err != nil {
		return exitFailure, "TCP probe failed: " + err.Error()
	}
	_ = conn.Close()
	return exitSuccess, ""
}
