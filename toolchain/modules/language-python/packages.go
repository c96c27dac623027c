package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// scanScript runs inside the program's Python and prints, as JSON, every
// top-level package on sys.path that carries a pulumi-plugin.json, plus the
// installed `pulumi-*` distributions that carry none (older SDKs, whose plugin
// is named after the distribution). It reads only directory listings and
// small metadata files, so it costs one Python start-up (~0.1-0.3 s) instead
// of the `pip list` + `pip show` round trips upstream makes.
const scanScript = `
import json, os, sys
found, seen = [], set()
for entry in sys.path:
    entry = entry or os.getcwd()
    if not os.path.isdir(entry):
        continue
    try:
        names = sorted(os.listdir(entry))
    except OSError:
        continue
    for name in names:
        path = os.path.join(entry, name, "pulumi-plugin.json")
        if name in seen or not os.path.isfile(path):
            continue
        seen.add(name)
        try:
            with open(path, encoding="utf-8") as f:
                found.append({"module": name, "plugin": json.load(f)})
        except (OSError, ValueError) as e:
            found.append({"module": name, "error": "%s: %s" % (path, e)})
try:
    from importlib import metadata
    dists = metadata.distributions()
except Exception:
    dists = []
for dist in dists:
    try:
        dname = (dist.metadata["Name"] or "").lower().replace("_", "-").replace(".", "-")
    except Exception:
        continue
    module = dname.replace("-", "_")
    if not dname.startswith("pulumi-") or module in seen:
        continue
    seen.add(module)
    found.append({"module": module, "distribution": dname, "version": dist.version})
json.dump(found, sys.stdout)
`

// Distributions known to have no resource plugin.
var withoutPlugin = map[string]bool{"pulumi-policy": true}

var plainVersion = regexp.MustCompile(`^\d+\.\d+\.\d+$`)

type scanned struct {
	Module       string                   `json:"module"`
	Plugin       *plugin.PulumiPluginJSON `json:"plugin"`
	Distribution string                   `json:"distribution"`
	Version      string                   `json:"version"`
	Error        string                   `json:"error"`
}

// requiredPackages lists the resource plugins (and parameterized packages)
// that the Python packages installed for the program need.
func (h *host) requiredPackages(ctx context.Context, info *pulumirpc.ProgramInfo) ([]*pulumirpc.PackageDependency, error) {
	opts, err := h.options(info)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", scanScript)
	if err != nil {
		return nil, err
	}
	withEnv(cmd, nil)
	cmd.Dir = opts.ProgramDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("scanning installed Python packages for Pulumi plugins with %s: %w: %s",
			cmd.Path, err, strings.TrimSpace(stderr.String()))
	}
	var entries []scanned
	if err := json.Unmarshal(out, &entries); err != nil {
		return nil, fmt.Errorf("parsing the Python package scan: %w", err)
	}

	var pkgs []*pulumirpc.PackageDependency
	for _, e := range entries {
		if e.Error != "" {
			return nil, fmt.Errorf("reading pulumi-plugin.json: %s", e.Error)
		}
		dep := toDependency(e)
		if dep == nil {
			continue
		}
		logging.V(5).Infof("GetRequiredPackages: %s needs %s %s", e.Module, dep.Name, dep.Version)
		pkgs = append(pkgs, dep)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	return pkgs, nil
}

func toDependency(e scanned) *pulumirpc.PackageDependency {
	if e.Plugin == nil {
		// A `pulumi-*` distribution without pulumi-plugin.json: the plugin is
		// named after it, at its version when that is a plain release.
		if withoutPlugin[e.Distribution] || e.Distribution == "pulumi" || !plainVersion.MatchString(e.Version) {
			return nil
		}
		return &pulumirpc.PackageDependency{
			Kind:    "resource",
			Name:    strings.TrimPrefix(e.Distribution, "pulumi-"),
			Version: "v" + e.Version,
		}
	}
	p := e.Plugin
	if !p.Resource {
		return nil
	}
	name := p.Name
	if name == "" {
		name = strings.ReplaceAll(strings.TrimPrefix(e.Module, "pulumi_"), "_", "-")
	}
	dep := &pulumirpc.PackageDependency{Kind: "resource", Name: name, Version: p.Version, Server: p.Server}
	if dep.Version != "" && !strings.HasPrefix(dep.Version, "v") {
		dep.Version = "v" + dep.Version
	}
	if p.Parameterization != nil {
		dep.Parameterization = &pulumirpc.PackageParameterization{
			Name: p.Parameterization.Name, Version: p.Parameterization.Version, Value: p.Parameterization.Value,
		}
	}
	if p.ExtensionParameterization != nil {
		dep.Extension = &pulumirpc.PackageParameterization{
			Name:    p.ExtensionParameterization.Name,
			Version: p.ExtensionParameterization.Version,
			Value:   p.ExtensionParameterization.Value,
		}
	}
	return dep
}
