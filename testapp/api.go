//go:build app_api

// The example's api app: answers with its release and version and one SHA-256 over the files
// of its config directory and its secret directory (names and contents), which proves both
// are mounted without ever showing the secret.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const apiVersion = "1.0.0"

func init() {
	role = appRole{name: "api", version: apiVersion, root: apiRoot}
}

// mountedDigest hashes every regular file (not Kubernetes' ..data links) of each directory, in
// name order; counts says how many files each directory held.
func mountedDigest(dirs ...string) (string, map[string]int) {
	h := sha256.New()
	counts := map[string]int{}
	for _, dir := range dirs {
		entries, _ := os.ReadDir(dir)
		names := []string{}
		for _, e := range entries {
			if !e.IsDir() && !strings.HasPrefix(e.Name(), "..") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				continue
			}
			counts[dir]++
			h.Write([]byte(dir + "/" + n + "\x00"))
			h.Write(b)
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil)), counts
}

func apiRoot(a *app, r *http.Request) (int, []byte, string) {
	digest, counts := mountedDigest(a.configDir, envOr("API_SECRETS_DIR", "/var/run/secrets/app"))
	body, _ := json.Marshal(map[string]any{"app": "api", "release": a.release, "version": a.version, "pod": a.pod,
		"mounted_sha256": digest, "mounted_files": counts})
	return http.StatusOK, append(body, '\n'), "application/json"
}
