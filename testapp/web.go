//go:build app_web

// The example's web app: serves a page saying which release and version it is, and which
// release of api it reached through api's endpoint (API_URL).
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

const webVersion = "1.0.0"

const greeting = "Hello from web, built from source in this repository."

func init() {
	role = appRole{name: "web", version: webVersion, root: webRoot}
}

// apiAnswer is the part of api's answer the page shows.
type apiAnswer struct {
	Release string `json:"release"`
	Version string `json:"version"`
	Mounted string `json:"mounted_sha256"`
}

func callAPI() (apiAnswer, error) {
	var out apiAnswer
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(envOr("API_URL", "http://api:8080"))
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("api answered %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out, err
}

func webRoot(a *app, r *http.Request) (int, []byte, string) {
	page := fmt.Sprintf("%s\nweb release %s version %s\n", greeting, a.release, a.version)
	api, err := callAPI()
	if err != nil {
		return http.StatusBadGateway, []byte(page + fmt.Sprintf("api unreachable: %v\n", err)), "text/plain; charset=utf-8"
	}
	page += fmt.Sprintf("api release %s version %s (config and secret sha256 %s)\n", api.Release, api.Version, api.Mounted)
	return http.StatusOK, []byte(page), "text/plain; charset=utf-8"
}
