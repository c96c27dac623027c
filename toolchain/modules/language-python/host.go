package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// execName is the shim that runs a program inside Python; it ships in the
// sdk/v3 module (python/cmd/) and is installed next to this binary.
const execName = "pulumi-language-python-exec"

// Exit code with which the exec shim says "the user has already been shown
// an actionable error": the engine should bail without adding its own.
const exitShownToUser = 32

type hostFlags struct {
	tracing       string
	root          string
	virtualenv    string
	typechecker   string
	toolchain     string
	executor      string
	binary        string
	engineAddress string
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	flags    hostFlags
	executor string

	mu            sync.Mutex
	engineAddress string

	// cancelled by the Cancel RPC; every child process is tied to it.
	ctx    context.Context
	cancel context.CancelFunc
}

func newHost(flags hostFlags) (*host, error) {
	executor, err := findExecutor(flags.executor)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &host{flags: flags, executor: executor, engineAddress: flags.engineAddress, ctx: ctx, cancel: cancel}, nil
}

// findExecutor locates the exec shim: the -use-executor flag, then next to
// this binary (as the symlink on PATH and as the resolved file), then PATH.
func findExecutor(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	var dirs []string
	if self, err := exec.LookPath(os.Args[0]); err == nil {
		dirs = append(dirs, filepath.Dir(self))
	}
	if self, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(self))
		if real, err := filepath.EvalSymlinks(self); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
	}
	for _, dir := range dirs {
		candidate := filepath.Join(dir, execName)
		if st, err := os.Stat(candidate); err == nil && !st.IsDir() {
			return candidate, nil
		}
	}
	if p, err := exec.LookPath(execName); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("could not find %s next to %s or on PATH", execName, os.Args[0])
}

// hostContext returns a context that ends when either the request or the host is cancelled.
func (h *host) hostContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(h.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// options turns the engine's ProgramInfo (runtime options from Pulumi.yaml or
// PulumiPolicy.yaml/PulumiPlugin.yaml) into toolchain options; the host's
// command-line flags supply defaults for options that are not set.
func (h *host) options(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	root, programDir := h.flags.root, ""
	var raw map[string]any
	if info != nil {
		if info.RootDirectory != "" {
			root = info.RootDirectory
		}
		programDir = info.ProgramDirectory
		if info.Options != nil {
			raw = info.Options.AsMap()
		}
	}
	if root == "" {
		root, _ = os.Getwd()
	}
	if programDir == "" {
		programDir = root
	}
	str := func(key, def string) (string, error) {
		v, ok := raw[key]
		if !ok || v == nil {
			return def, nil
		}
		s, isStr := v.(string)
		if !isStr {
			return "", fmt.Errorf("runtime option %q must be a string, got %T", key, v)
		}
		return s, nil
	}

	opts := toolchain.PythonOptions{Root: root, ProgramDir: programDir}
	var err error
	if opts.Virtualenv, err = str("virtualenv", h.flags.virtualenv); err != nil {
		return opts, err
	}
	tc, err := str("toolchain", h.flags.toolchain)
	if err != nil {
		return opts, err
	}
	switch strings.ToLower(tc) {
	case "":
		// Upstream behaviour: `virtualenv` alone means pip; nothing at all means
		// auto-detect from lock files (uv.lock, poetry.lock), else pip.
		if opts.Virtualenv != "" {
			opts.Toolchain = toolchain.Pip
		} else {
			opts.Toolchain = toolchain.Auto
		}
	case "pip":
		opts.Toolchain = toolchain.Pip
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	case "uv":
		opts.Toolchain = toolchain.Uv
	default:
		return opts, fmt.Errorf("unsupported toolchain option %q (want pip, poetry or uv)", tc)
	}
	checker, err := str("typechecker", h.flags.typechecker)
	if err != nil {
		return opts, err
	}
	switch strings.ToLower(checker) {
	case "":
		opts.Typechecker = toolchain.TypeCheckerNone
	case "mypy":
		opts.Typechecker = toolchain.TypeCheckerMypy
	case "pyright":
		opts.Typechecker = toolchain.TypeCheckerPyright
	default:
		return opts, fmt.Errorf("unsupported typechecker option %q (want mypy or pyright)", checker)
	}
	return opts, nil
}

// withEnv sets cmd.Env to base (the host's environment when nil), then the
// environment the toolchain prepared for the command (virtualenv activation:
// PATH, VIRTUAL_ENV, no PYTHONHOME), then extra; exec keeps the last value of
// a duplicated key.
func withEnv(cmd *exec.Cmd, base []string, extra ...string) {
	if base == nil {
		base = os.Environ()
	}
	prepared := cmd.Env
	env := append(append(append([]string{}, base...), prepared...), extra...)
	if prepared != nil && !hasKey(prepared, "PYTHONHOME") {
		kept := env[:0]
		for _, kv := range env {
			if !strings.HasPrefix(kv, "PYTHONHOME=") {
				kept = append(kept, kv)
			}
		}
		env = kept
	}
	cmd.Env = env
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return true
		}
	}
	return false
}

func (h *host) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineAddress = req.EngineAddress
	if req.RootDirectory != nil && h.flags.root == "" {
		h.flags.root = *req.RootDirectory
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	pkgs, err := h.requiredPackages(ctx, req.Info)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

func (h *host) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	pkgs, err := h.requiredPackages(ctx, req.Info)
	if err != nil {
		return nil, err
	}
	var plugins []*pulumirpc.PluginDependency
	for _, p := range pkgs {
		if p.Parameterization != nil {
			continue // not expressible as a plain plugin dependency
		}
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: p.Kind, Version: p.Version, Server: p.Server,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	opts, err := h.options(req.Info)
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
	ctx, done := h.hostContext(ctx)
	defer done()

	if opts.Typechecker != toolchain.TypeCheckerNone {
		if msg := h.typecheck(ctx, tc, opts); msg != "" {
			return &pulumirpc.RunResponse{Error: msg}, nil
		}
	}

	configMap := req.GetConfig()
	if configMap == nil {
		configMap = map[string]string{} // the SDK reads PULUMI_CONFIG=null as no config at all and fails
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, fmt.Errorf("serializing configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing secret configuration keys: %w", err)
	}

	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	args := []string{"-u", h.executor}
	flag := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	flag("monitor", req.GetMonitorAddress())
	flag("engine", engine)
	flag("project", req.GetProject())
	flag("stack", req.GetStack())
	flag("pwd", req.GetPwd())
	flag("dry_run", strconv.FormatBool(req.GetDryRun()))
	flag("parallel", strconv.Itoa(int(req.GetParallel())))
	flag("tracing", h.flags.tracing)
	flag("organization", req.GetOrganization())
	flag("root_directory", opts.Root)
	program := req.GetProgram()
	if program == "" {
		program = "."
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	withEnv(cmd, nil,
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON))
	if req.GetPwd() != "" {
		cmd.Dir = req.GetPwd()
	}
	// The engine shows whatever the host writes after the port line.
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	logging.V(5).Infof("Language host launching process: %s %s", cmd.Path, strings.Join(cmd.Args[1:], " "))

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code := exitErr.ExitCode()
			if code == exitShownToUser {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			if code < 0 {
				return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited unexpectedly: %v", err)}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", code)}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// typecheck runs mypy or pyright on the program directory; it returns an error
// message for the engine when the check fails.
func (h *host) typecheck(ctx context.Context, tc toolchain.Toolchain, opts toolchain.PythonOptions) string {
	module := "mypy"
	if opts.Typechecker == toolchain.TypeCheckerPyright {
		module = "pyright"
	}
	cmd, err := tc.ModuleCommand(ctx, module, opts.ProgramDir)
	if err != nil {
		return fmt.Sprintf("could not run %s: %v", module, err)
	}
	withEnv(cmd, nil)
	cmd.Dir = opts.ProgramDir
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("%s type checking failed: %v", module, err)
	}
	return ""
}

func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	info := req.Info
	if info == nil {
		info = &pulumirpc.ProgramInfo{RootDirectory: req.Directory, ProgramDirectory: req.Directory}
	}
	opts, err := h.options(info)
	if err != nil {
		return err
	}
	if req.IsPlugin && opts.Virtualenv == "" && usesPip(opts) {
		opts.Virtualenv = "venv" // plugins never install into the ambient Python
	}
	if req.IsPlugin && pluginHasNothingToInstall(opts) {
		// A plugin that names an existing virtualenv (e.g. the project's own, for a component
		// provider in the same repository) and lists no requirements: the CLI asks for an install
		// before every run, and pip would upgrade pip/setuptools/wheel in someone else's venv.
		return nil
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.IsTerminal)
	if err != nil {
		return err
	}
	defer closer.Close()

	ctx, done := h.hostContext(server.Context())
	defer done()
	if err := tc.InstallDependencies(ctx, opts.ProgramDir, req.UseLanguageVersionTools,
		true /*showOutput*/, stdout, stderr); err != nil {
		return err
	}
	return closer.Close()
}

func (h *host) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	// No interactive prompts: projects here set their options in Pulumi.yaml.
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	opts, err := h.options(req.Info)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	meta := map[string]string{"toolchain": toolchain.Name(opts.Toolchain)}
	if venv, err := tc.VirtualEnvPath(ctx); err == nil && venv != "" {
		meta["virtualenv"] = venv
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
		Metadata:   meta,
	}, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	opts, err := h.options(req.Info)
	if err != nil {
		return nil, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	deps, err := tc.ListPackages(ctx, req.TransitiveDependencies)
	if err != nil {
		return nil, fmt.Errorf("listing python packages: %w", err)
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range deps {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return resp, nil
}

// RunPlugin runs a Python plugin the engine found as a directory: a policy
// pack (PulumiPolicy.yaml, kind "analyzer") or a provider written in Python
// (PulumiPlugin.yaml, kind "resource"). The plugin's `__main__.py` is run
// with the engine's arguments; without one, the directory is treated as a
// package and run through the SDK's `pulumi.run.plugin` entry point.
func (h *host) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	info := req.Info
	if info == nil {
		return errors.New("RunPlugin: the engine sent no program info")
	}
	opts, err := h.options(info)
	if err != nil {
		return err
	}
	if opts.Virtualenv == "" && usesPip(opts) {
		opts.Virtualenv = pluginVirtualenv(opts.Root, req.Env)
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	if err := tc.ValidateVenv(server.Context()); err != nil {
		return err
	}

	var args []string
	if _, err := os.Stat(filepath.Join(info.ProgramDirectory, "__main__.py")); err == nil {
		args = append([]string{"-u", info.ProgramDirectory}, req.Args...)
	} else {
		name := req.Name
		if name == "" {
			name = filepath.Base(info.ProgramDirectory)
		}
		args = append([]string{"-u", "-m", "pulumi.run.plugin", name}, req.Args...)
	}

	ctx, done := h.hostContext(server.Context())
	defer done()
	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return err
	}
	withEnv(cmd, req.Env)
	cmd.Dir = req.Pwd
	if cmd.Dir == "" {
		cmd.Dir = info.ProgramDirectory
	}

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	logging.V(5).Infof("RunPlugin: %s %s (dir %s)", cmd.Path, strings.Join(cmd.Args[1:], " "), cmd.Dir)

	exitCode := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("running plugin in %s: %w", info.ProgramDirectory, err)
		}
		exitCode = int32(exitErr.ExitCode())
	}
	if err := closer.Close(); err != nil {
		return err
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: exitCode}})
}

// usesPip tells whether ResolveToolchain will pick pip: asked for, or
// auto-detected because no uv.lock or poetry.lock is found above the program.
// pluginHasNothingToInstall: pip toolchain, an existing virtualenv, and no requirements file in
// the plugin directory.
func pluginHasNothingToInstall(opts toolchain.PythonOptions) bool {
	if opts.Virtualenv == "" || !usesPip(opts) {
		return false
	}
	venv := opts.Virtualenv
	if !filepath.IsAbs(venv) {
		venv = filepath.Join(opts.Root, venv)
	}
	if _, err := os.Stat(filepath.Join(venv, "bin", "python")); err != nil {
		return false
	}
	for _, name := range []string{"requirements.txt", "pyproject.toml", "setup.py"} {
		if _, err := os.Stat(filepath.Join(opts.ProgramDir, name)); err == nil {
			return false
		}
	}
	return true
}

func usesPip(opts toolchain.PythonOptions) bool {
	if opts.Toolchain != toolchain.Auto {
		return opts.Toolchain == toolchain.Pip
	}
	for dir := opts.ProgramDir; ; dir = filepath.Dir(dir) {
		for _, lock := range []string{"uv.lock", "poetry.lock"} {
			if _, err := os.Stat(filepath.Join(dir, lock)); err == nil {
				return false
			}
		}
		if parent := filepath.Dir(dir); parent == dir {
			return true
		}
	}
}

// pluginVirtualenv picks the virtualenv of a plugin whose PulumiPolicy.yaml or
// PulumiPlugin.yaml names none: `venv` or `.venv` inside the plugin (upstream
// only tries `venv`), else the virtualenv the CLI itself runs in (VIRTUAL_ENV),
// else none (python3 on PATH).
func pluginVirtualenv(root string, env []string) string {
	for _, name := range []string{"venv", ".venv"} {
		if toolchain.IsVirtualEnv(filepath.Join(root, name)) {
			return name
		}
	}
	active := os.Getenv("VIRTUAL_ENV")
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "VIRTUAL_ENV="); ok {
			active = v
		}
	}
	if active != "" && toolchain.IsVirtualEnv(active) {
		return active
	}
	return ""
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancel()
	return &emptypb.Empty{}, nil
}
