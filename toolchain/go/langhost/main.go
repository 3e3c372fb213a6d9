// Command pulumi-language-nodejs is a small Node.js language host for the
// Pulumi engine (CLI v3.248.0). It exists because the Go module proxy this
// project's machines reach refuses Pulumi's own host
// (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3: 403
// "This module version is not available."), while it serves sdk/v3.
//
// The engine starts it as `pulumi-language-nodejs [flags] ENGINE_ADDRESS`,
// reads the gRPC port from the first line of stdout and shows every later
// line of stdout/stderr to the user. It implements the parts of
// pulumirpc.LanguageRuntime that `pulumi preview/up/destroy/refresh/about/
// install` use; see docs/toolchain.md ("Our language host").
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// defaultVersion is reported when the build did not set the SDK's version
// variable with -ldflags (toolchain/build.sh does).
const defaultVersion = "3.248.0"

// bailExitCode is the exit code of @pulumi/pulumi/cmd/run when it has already
// shown the error to the user (nodeJSProcessExitedAfterLoggingUserActionableMessage).
const bailExitCode = 32

// killGrace is how long a program gets between SIGINT and SIGKILL, and how
// long its output may trail its exit (a grandchild holding the pipe).
const killGrace = 5 * time.Second

type options struct {
	engineAddress string
	tracing       string
	verbose       int
	logToStderr   bool
	showVersion   bool
}

// parseArgs reads the command line the engine builds: optional --logtostderr,
// -v=N and --tracing URL, then the engine address (-version prints the
// version, for people). Flags other hosts accept
// (-root, -binary, -typescript, -tsconfig, -nodeargs, ...) are accepted and
// ignored, so an engine or a script passing them does not stop the host.
func parseArgs(args []string) options {
	var o options
	takesValue := map[string]bool{
		"tracing": true, "root": true, "binary": true, "tsconfig": true,
		"nodeargs": true, "packagemanager": true, "v": true,
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			if o.engineAddress == "" {
				o.engineAddress = a
			}
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasValue && takesValue[name] && i+1 < len(args) {
			i++
			value = args[i]
		}
		switch name {
		case "tracing":
			o.tracing = value
		case "v":
			o.verbose, _ = strconv.Atoi(value)
		case "logtostderr":
			o.logToStderr = value != "false"
		case "version":
			o.showVersion = true
		}
	}
	return o
}

func main() {
	opts := parseArgs(os.Args[1:])
	if opts.showVersion {
		fmt.Println(pluginVersion())
		return
	}
	logging.InitLogging(opts.logToStderr, opts.verbose, true)

	nodeBin, err := exec.LookPath("node")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: could not find node on the $PATH: %v\n", err)
		os.Exit(1)
	}
	h := &host{nodeBin: nodeBin, engineAddress: opts.engineAddress, tracing: opts.tracing}

	stop := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stop,
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: could not start the RPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine waits for exactly this line: the port, then a newline.
	fmt.Printf("%d\n", handle.Port)

	// The engine stops a plugin with SIGINT to its process group (SIGKILL 5 s
	// later). The programs run in process groups of their own so that Cancel
	// can stop them without stopping us, so stop them here, then exit.
	var once sync.Once
	shutdown := func(why string) {
		once.Do(func() {
			logging.V(5).Infof("shutting down: %s", why)
			h.stopAll(true)
			close(stop) // graceful stop: lets a Run in flight return its result
		})
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { shutdown((<-sigs).String()) }()

	// If the engine dies without stopping us (SIGKILL), do not leave node
	// programs behind: poll its health endpoint.
	if opts.engineAddress != "" {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { <-ctx.Done(); shutdown("engine is gone") }()
		if err := rpcutil.Healthcheck(ctx, opts.engineAddress, time.Minute, cancel); err != nil {
			logging.V(3).Infof("no engine health check: %v", err)
		}
	}

	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
}

// host implements pulumirpc.LanguageRuntimeServer. Methods it does not
// define (code generation, RunPlugin, Pack, Link, ...) answer Unimplemented,
// which the engine handles for the optional ones.
type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	nodeBin string
	tracing string

	mu            sync.Mutex
	engineAddress string              // from the command line, or Handshake
	children      map[*child]struct{} // running node/npm processes
	closing       bool                // shutting down: start nothing new
}

// child is a process started by the host in a process group of its own.
type child struct {
	cmd     *exec.Cmd
	done    chan struct{}
	stopped bool // set (under host.mu) once stop was called
}

// start runs cmd in its own process group and tracks it until wait. The
// lock is held across Start so that a shutdown cannot miss the new process.
func (h *host) start(cmd *exec.Cmd) (*child, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, errors.New("the language host is shutting down")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	if h.children == nil {
		h.children = map[*child]struct{}{}
	}
	h.children[c] = struct{}{}
	return c, nil
}

// wait waits for c, stopping it if ctx ends first (the engine gave up on the
// RPC). stopped says whether c was stopped by us rather than exiting by itself.
func (h *host) wait(ctx context.Context, c *child) (stopped bool, err error) {
	go func() {
		select {
		case <-ctx.Done():
			h.stop(c)
		case <-c.done:
		}
	}()
	err = c.cmd.Wait()
	close(c.done)
	h.mu.Lock()
	delete(h.children, c)
	stopped = c.stopped
	h.mu.Unlock()
	return stopped, err
}

// stop interrupts c's whole process group (what Ctrl-C in a terminal does),
// and kills it after killGrace: a program may have started processes of its own.
func (h *host) stop(c *child) {
	h.mu.Lock()
	c.stopped = true
	h.mu.Unlock()
	pgid := c.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGINT)
	go func() {
		select {
		case <-c.done:
		case <-time.After(killGrace):
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // any stragglers in the group
	}()
}

// stopAll stops every running child; final also refuses new ones.
func (h *host) stopAll(final bool) {
	h.mu.Lock()
	h.closing = h.closing || final
	cs := make([]*child, 0, len(h.children))
	for c := range h.children {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	for _, c := range cs {
		h.stop(c)
	}
}

// Handshake is only called when the engine attaches to an already running
// host (PULUMI_DEBUG_LANGUAGES); it carries the engine address.
func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	h.engineAddress = req.GetEngineAddress()
	h.mu.Unlock()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: pluginVersion()}, nil
}

func pluginVersion() string {
	if version.Version != "" {
		return version.Version
	}
	return defaultVersion
}

// programDir picks the program directory from the ProgramInfo the engine
// sends, falling back to the deprecated per-request field.
func programDir(info *pulumirpc.ProgramInfo, deprecated string) string {
	if d := info.GetProgramDirectory(); d != "" {
		return d
	}
	return deprecated
}

func (h *host) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	deps, err := requiredPlugins(programDir(req.GetInfo(), ""))
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, d := range deps {
		pkg := &pulumirpc.PackageDependency{Name: d.Name, Kind: "resource", Version: d.Version, Server: d.Server}
		if p := d.Parameterization; p != nil {
			pkg.Parameterization = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
		}
		resp.Packages = append(resp.Packages, pkg)
	}
	return resp, nil
}

// GetRequiredPlugins is the older form of GetRequiredPackages; v3.248 only
// falls back to it when GetRequiredPackages is unimplemented.
func (h *host) GetRequiredPlugins(_ context.Context, req *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	deps, err := requiredPlugins(programDir(req.GetInfo(), req.GetPwd())) //nolint:staticcheck // the deprecated field is the fallback
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, d := range deps {
		if d.Parameterization != nil {
			continue // not expressible here; the engine uses GetRequiredPackages
		}
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: d.Name, Kind: "resource", Version: d.Version, Server: d.Server,
		})
	}
	return resp, nil
}

// Run executes the program with @pulumi/pulumi's own runner (cmd/run), which
// connects back to the engine's resource monitor. The program's output goes
// to our stdout/stderr, which the engine already shows to the user.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	pwd := req.GetPwd()
	dir := programDir(info, pwd)
	if pwd == "" {
		pwd = dir
	}
	entry := info.GetEntryPoint()
	if entry == "" {
		entry = req.GetProgram() //nolint:staticcheck // older engines send only this
	}
	if entry == "" {
		entry = "." // the runner then uses package.json's exports/main
	}
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "this language host cannot start programs under a debugger"}, nil
	}

	opts, err := parseRuntimeOptions(info.GetOptions())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	runScript, err := findRunScript(dir)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()
	args := append([]string{}, opts.nodeargs...)
	args = append(args, runScript)
	// The flags @pulumi/pulumi/cmd/run/index.js parses (minimist, stopping
	// at the first non-flag: the entry point).
	addFlag := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	addFlag("monitor", req.GetMonitorAddress())
	addFlag("engine", engine)
	addFlag("organization", req.GetOrganization())
	addFlag("project", req.GetProject())
	addFlag("stack", req.GetStack())
	addFlag("root-directory", info.GetRootDirectory())
	addFlag("pwd", pwd)
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	addFlag("parallel", strconv.Itoa(int(req.GetParallel())))
	addFlag("tracing", h.tracing)
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	env, err := programEnv(req, opts)
	if err != nil {
		return nil, err
	}

	cmd := exec.Command(h.nodeBin, args...)
	cmd.Dir = pwd
	cmd.Env = env
	// Copied through pipes rather than handing node our stdout/stderr: node
	// may switch the descriptors it gets to non-blocking mode, which would
	// then apply to ours (and the engine's pipe) too.
	cmd.Stdout = struct{ io.Writer }{os.Stdout}
	cmd.Stderr = struct{ io.Writer }{os.Stderr}
	cmd.WaitDelay = killGrace
	logging.V(5).Infof("running %s %s", h.nodeBin, strings.Join(args, " "))
	c, err := h.start(cmd)
	if err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run node: %v", err)}, nil
	}
	stopped, err := h.wait(ctx, c)
	return runResult(err, stopped), nil
}

// programEnv is the environment cmd/run reads its settings from.
func programEnv(req *pulumirpc.RunRequest, opts runtimeOptions) ([]string, error) {
	config := map[string]string{}
	for k, v := range req.GetConfig() {
		config[legacyConfigKey(k)] = v
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	// Later entries win over the inherited ones (os/exec keeps the last).
	env := append(os.Environ(),
		"PULUMI_CONFIG="+string(configJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON),
		"PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(opts.typescript),
	)
	if opts.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+opts.tsconfig)
	}
	return env, nil
}

// legacyConfigKey writes a config key "ns:name" as "ns:config:name", the form
// every @pulumi/pulumi version reads (current ones accept both). The secret
// keys list keeps the engine's form, which is what the SDK looks up.
func legacyConfigKey(k string) string {
	ns, name, ok := strings.Cut(k, ":")
	if !ok || strings.Contains(name, ":") {
		return k // already "ns:config:name", or not a key the SDK would read
	}
	return ns + ":config:" + name
}

// runResult turns the runner's exit into the engine's terms: Bail when the
// runner has already reported the error itself, an error message otherwise.
func runResult(err error, stopped bool) *pulumirpc.RunResponse {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}
	case errors.Is(err, exec.ErrWaitDelay):
		// The runner exited 0 but something it started still held its
		// output open; the program itself succeeded.
		logging.V(3).Infof("program succeeded; output closed after %v: %v", killGrace, err)
		return &pulumirpc.RunResponse{}
	case stopped:
		return &pulumirpc.RunResponse{Error: "the program was stopped because the operation was canceled"}
	case errors.As(err, &exit) && exit.ExitCode() == bailExitCode:
		return &pulumirpc.RunResponse{Bail: true}
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}
	default:
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited unexpectedly: %v", err)}
	}
}

// Cancel is sent on Ctrl-C and before the engine closes the host: stop any
// program or install still running.
func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.stopAll(false)
	return &emptypb.Empty{}, nil
}

// InstallDependencies runs `<package manager> install` in the program
// directory (see packageManager), streaming its output back to the engine.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer) error {
	dir := programDir(req.GetInfo(), req.GetDirectory()) //nolint:staticcheck // the deprecated field is the fallback
	opts, err := parseRuntimeOptions(req.GetInfo().GetOptions())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()

	pm := packageManager(opts.packagemanager, dir)
	fmt.Fprintf(stdout, "Installing dependencies with %s...\n\n", pm)
	cmd := exec.Command(pm, "install")
	cmd.Dir = dir
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = killGrace
	c, err := h.start(cmd)
	if err != nil {
		return fmt.Errorf("could not run %s: %w", pm, err)
	}
	if _, err := h.wait(server.Context(), c); err != nil {
		return fmt.Errorf("%s install failed in %s: %w", pm, dir, err)
	}
	fmt.Fprintln(stdout, "Finished installing dependencies")
	return closer.Close() // flushes a pseudo-terminal's output before the stream ends
}

// About reports the node used to run programs (`pulumi about`, and the
// runtime metadata stored with each update).
func (h *host) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	out, err := exec.CommandContext(ctx, h.nodeBin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("running %s --version: %w", h.nodeBin, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: h.nodeBin,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
	}, nil
}

// GetProgramDependencies lists the program's npm packages (`pulumi about`).
func (h *host) GetProgramDependencies(_ context.Context, req *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir := programDir(req.GetInfo(), req.GetPwd()) //nolint:staticcheck // the deprecated field is the fallback
	deps, err := programDependencies(filepath.Clean(dir), req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range deps {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return resp, nil
}
