// Command imagetool builds OCI images without Docker, reproducibly, and pushes them to a
// registry (go-containerregistry). The same inputs always give the same digest: one layer of
// files with fixed owner (0:0) and mtime (the Unix epoch), entries sorted, a config without
// history or creation time.
//
//	imagetool build --file /bin/testapp=./testapp:0755 --symlink /bin/worker=testapp \
//	    --env TESTAPP_VERSION=1.0.0 --entrypoint /bin/testapp --user 10001:10001 \
//	    [--push 127.0.0.1:5000/testapp:1.0.0] [--tarball out.tar --tag name:tag]
//
// Prints one JSON line: {"ref", "digest", "config_digest", "layer_digest", "size"}. --push
// talks plain HTTP (the registry listens on 127.0.0.1 only); --tarball writes a docker-save
// tarball (for `ctr images import`).
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"compress/gzip"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

type entry struct {
	dest, src, link string
	mode            int64
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "imagetool: "+format+"\n", args...)
	os.Exit(1)
}

// layerTar is one deterministic tar: parent directories first, everything sorted by path.
func layerTar(entries []entry) []byte {
	dirs := map[string]bool{}
	for _, e := range entries {
		for d := path.Dir(e.dest); d != "/" && d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	type item struct {
		name string
		hdr  *tar.Header
		data []byte
	}
	var items []item
	epoch := time.Unix(0, 0).UTC()
	for d := range dirs {
		items = append(items, item{name: d, hdr: &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/",
			Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}})
	}
	for _, e := range entries {
		name := strings.TrimPrefix(e.dest, "/")
		if e.link != "" {
			items = append(items, item{name: e.dest, hdr: &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: e.link,
				Mode: 0o777, ModTime: epoch, Format: tar.FormatPAX}})
			continue
		}
		data, err := os.ReadFile(e.src)
		if err != nil {
			fail("--file %s=%s: %v", e.dest, e.src, err)
		}
		items = append(items, item{name: e.dest, data: data, hdr: &tar.Header{Typeflag: tar.TypeReg, Name: name,
			Mode: e.mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].name < items[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, it := range items {
		if err := tw.WriteHeader(it.hdr); err != nil {
			fail("tar: %v", err)
		}
		if _, err := tw.Write(it.data); err != nil {
			fail("tar: %v", err)
		}
	}
	if err := tw.Close(); err != nil {
		fail("tar: %v", err)
	}
	return buf.Bytes()
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "build" {
		fail("usage: imagetool build [flags] (see the source's doc comment)")
	}
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	var files, links, envs, labels multi
	fs.Var(&files, "file", "DEST=SRC[:MODE] (octal mode, default 0755)")
	fs.Var(&links, "symlink", "DEST=TARGET")
	fs.Var(&envs, "env", "K=V in the image config")
	fs.Var(&labels, "label", "K=V in the image config")
	entrypoint := fs.String("entrypoint", "", "comma-separated entrypoint")
	user := fs.String("user", "", "uid:gid the image runs as")
	push := fs.String("push", "", "host:port/repo:tag to push to (plain HTTP)")
	tarOut := fs.String("tarball", "", "write a docker-save tarball here")
	tag := fs.String("tag", "", "name:tag inside --tarball")
	_ = fs.Parse(os.Args[2:])

	var entries []entry
	for _, f := range files {
		dest, src, ok := strings.Cut(f, "=")
		if !ok || !strings.HasPrefix(dest, "/") {
			fail("--file %q: want /DEST=SRC[:MODE]", f)
		}
		mode := int64(0o755)
		if i := strings.LastIndex(src, ":"); i > 0 {
			m, err := strconv.ParseInt(src[i+1:], 8, 64)
			if err != nil {
				fail("--file %q: mode: %v", f, err)
			}
			src, mode = src[:i], m
		}
		entries = append(entries, entry{dest: dest, src: src, mode: mode})
	}
	for _, l := range links {
		dest, target, ok := strings.Cut(l, "=")
		if !ok || !strings.HasPrefix(dest, "/") {
			fail("--symlink %q: want /DEST=TARGET", l)
		}
		entries = append(entries, entry{dest: dest, link: target})
	}
	raw := layerTar(entries)
	// tarball computes the DiffID from the uncompressed tar and gzips it itself (fixed level,
	// no name, no mtime): deterministic for the same input.
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		fail("layer: %v", err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		fail("append layer: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		fail("config: %v", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.History = nil
	cf.Config.Env = append([]string{"PATH=/bin"}, envs...)
	if *entrypoint != "" {
		cf.Config.Entrypoint = strings.Split(*entrypoint, ",")
	}
	cf.Config.User = *user
	if len(labels) > 0 {
		cf.Config.Labels = map[string]string{}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			cf.Config.Labels[k] = v
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		fail("config: %v", err)
	}
	digest, err := img.Digest()
	if err != nil {
		fail("digest: %v", err)
	}
	cfgName, _ := img.ConfigName()
	layerDigest, _ := layer.Digest()
	size, _ := img.Size()
	out := map[string]any{"digest": digest.String(), "config_digest": cfgName.String(),
		"layer_digest": layerDigest.String(), "size": size}
	if *push != "" {
		ref, err := name.ParseReference(*push, name.Insecure)
		if err != nil {
			fail("--push %q: %v", *push, err)
		}
		if err := remote.Write(ref, img); err != nil {
			fail("push %s: %v", ref, err)
		}
		out["ref"] = ref.Context().Name() + "@" + digest.String()
	}
	if *tarOut != "" {
		t, err := name.NewTag(*tag)
		if err != nil {
			fail("--tag %q: %v", *tag, err)
		}
		f, err := os.Create(*tarOut)
		if err != nil {
			fail("--tarball: %v", err)
		}
		if err := tarball.Write(t, img, f); err != nil {
			fail("--tarball: %v", err)
		}
		_ = f.Close()
	}
	b, _ := json.Marshal(out)
	_, _ = io.WriteString(os.Stdout, string(b)+"\n")
}
