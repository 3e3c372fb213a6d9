package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// writePackage writes dir/package.json with the given fields.
func writePackage(t *testing.T, dir string, fields map[string]any) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func provider(name, version string) map[string]any {
	return map[string]any{"name": name, "version": version, "pulumi": map[string]any{"resource": true}}
}

func TestPluginFromPackage(t *testing.T) {
	cases := []struct {
		name string
		json string
		want *pluginDep // nil: not a plugin
		err  bool
	}{
		{"pulumi scope dropped", `{"name":"@pulumi/aws","version":"7.48.0","pulumi":{"resource":true}}`,
			&pluginDep{Name: "aws", Version: "v7.48.0"}, false},
		{"pulumi.name and pulumi.version win", `{"name":"@pulumi/docker","version":"5.0.0",
			"pulumi":{"resource":true,"name":"docker-build","version":"0.1.0"}}`,
			&pluginDep{Name: "docker-build", Version: "v0.1.0"}, false},
		{"third party with pulumi.name, server kept", `{"name":"@acme/thing","version":"v1.2.3",
			"pulumi":{"resource":true,"name":"thing","server":"https://example.com/plugins"}}`,
			&pluginDep{Name: "thing", Version: "v1.2.3", Server: "https://example.com/plugins"}, false},
		{"third party without pulumi.name", `{"name":"@acme/thing","version":"1.0.0","pulumi":{"resource":true}}`,
			nil, true},
		{"parameterized SDK", `{"name":"terraform-random","version":"3.6.0",
			"pulumi":{"resource":true,"name":"terraform-provider","version":"0.8.0",
			"parameterization":{"name":"random","version":"3.6.0","value":"eyJ4IjoxfQ=="}}}`,
			&pluginDep{Name: "terraform-provider", Version: "v0.8.0",
				Parameterization: &parameterization{Name: "random", Version: "3.6.0", Value: []byte(`{"x":1}`)}}, false},
		{"resource false", `{"name":"@pulumi/pulumi","version":"3.248.0","pulumi":{"resource":false}}`, nil, false},
		{"comment only (@pulumi/pulumi)", `{"name":"@pulumi/pulumi","version":"3.248.0",
			"pulumi":{"comment":"Do not remove."}}`, nil, false},
		{"not an object", `{"name":"odd","version":"1.0.0","pulumi":true}`, nil, false},
		{"no pulumi section", `{"name":"left-pad","version":"1.3.0"}`, nil, false},
		{"bad version", `{"name":"@pulumi/x","version":"${VERSION}","pulumi":{"resource":true}}`, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var pkg packageJSON
			if err := json.Unmarshal([]byte(c.json), &pkg); err != nil {
				t.Fatal(err)
			}
			got, ok, err := pluginFromPackage(&pkg)
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error: %v", err, c.err)
			}
			if ok != (c.want != nil) {
				t.Fatalf("ok = %v, want %v", ok, c.want != nil)
			}
			if c.want != nil && !reflect.DeepEqual(got, *c.want) {
				t.Fatalf("got %+v, want %+v", got, *c.want)
			}
		})
	}
}

func TestRequiredPluginsWalk(t *testing.T) {
	prog := t.TempDir()
	nm := filepath.Join(prog, "node_modules")
	writePackage(t, filepath.Join(nm, "@pulumi", "pulumi"), map[string]any{
		"name": "@pulumi/pulumi", "version": "3.248.0", "pulumi": map[string]any{"comment": "x"}})
	writePackage(t, filepath.Join(nm, "@pulumi", "aws"), provider("@pulumi/aws", "7.48.0"))
	// Nested: a package's own node_modules, with a second copy of aws at the
	// same version (de-duplicated) and one at another version (kept).
	writePackage(t, filepath.Join(nm, "lib"), map[string]any{"name": "lib", "version": "1.0.0"})
	writePackage(t, filepath.Join(nm, "lib", "node_modules", "@pulumi", "aws"), provider("@pulumi/aws", "7.48.0"))
	writePackage(t, filepath.Join(nm, "lib", "node_modules", "@pulumi", "random"), provider("@pulumi/random", "4.18.0"))
	writePackage(t, filepath.Join(nm, "old", "node_modules", "@pulumi", "aws"), provider("@pulumi/aws", "6.0.0"))
	// pnpm's store.
	writePackage(t, filepath.Join(nm, ".pnpm", "@pulumi+command@1.2.1", "node_modules", "@pulumi", "command"),
		provider("@pulumi/command", "1.2.1"))
	// Not package roots: a fixture inside a package, and .bin.
	writePackage(t, filepath.Join(nm, "lib", "test", "fixture"), provider("@pulumi/fixture", "9.9.9"))
	writePackage(t, filepath.Join(nm, ".bin", "x"), provider("@pulumi/bin", "9.9.9"))
	// Outside the program's node_modules: another project's dependencies.
	writePackage(t, filepath.Join(prog, "other", "node_modules", "@pulumi", "gcp"), provider("@pulumi/gcp", "8.0.0"))
	// A symlink loop must not hang the walk.
	if err := os.Symlink(nm, filepath.Join(nm, "lib", "node_modules", "loop")); err != nil {
		t.Fatal(err)
	}

	got, err := requiredPlugins(prog)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.Name+"@"+d.Version)
	}
	want := []string{"aws@v6.0.0", "aws@v7.48.0", "command@v1.2.1", "random@v4.18.0"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("got %v, want %v", names, want)
	}

	// The same through the RPC the engine calls.
	h := &host{}
	resp, err := h.GetRequiredPackages(context.Background(), &pulumirpc.GetRequiredPackagesRequest{
		Info: &pulumirpc.ProgramInfo{RootDirectory: prog, ProgramDirectory: prog, EntryPoint: "."},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Packages) != 4 || resp.Packages[0].Kind != "resource" || resp.Packages[0].Name != "aws" {
		t.Fatalf("unexpected GetRequiredPackages answer: %v", resp.Packages)
	}
}

func TestWorkspaceNodeModulesAbove(t *testing.T) {
	root := t.TempDir()
	writePackage(t, filepath.Join(root, "node_modules", "@pulumi", "aws"), provider("@pulumi/aws", "7.48.0"))
	writePackage(t, filepath.Join(root, "node_modules", "@pulumi", "pulumi", "cmd", "run"), map[string]any{})
	if err := os.WriteFile(filepath.Join(root, "node_modules", "@pulumi", "pulumi", "cmd", "run", "index.js"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(root, "packages", "infra")
	if err := os.MkdirAll(prog, 0o755); err != nil {
		t.Fatal(err)
	}

	got, err := requiredPlugins(prog)
	if err != nil || len(got) != 1 || got[0].Name != "aws" {
		t.Fatalf("requiredPlugins = %v, %v; want aws from the workspace root", got, err)
	}
	run, err := findRunScript(prog)
	if err != nil || run != filepath.Join(root, "node_modules", "@pulumi", "pulumi", "cmd", "run", "index.js") {
		t.Fatalf("findRunScript = %q, %v", run, err)
	}

	if _, err := findRunScript(t.TempDir()); !errors.Is(err, errNoSDK) {
		t.Fatalf("without an SDK: err = %v, want errNoSDK", err)
	}
	if got, err := requiredPlugins(t.TempDir()); err != nil || len(got) != 0 {
		t.Fatalf("without node_modules: %v, %v", got, err)
	}
	if _, err := requiredPlugins(filepath.Join(root, "missing")); err == nil {
		t.Fatal("a missing program directory must be an error")
	}
}

func TestProgramDependencies(t *testing.T) {
	prog := t.TempDir()
	writePackage(t, prog, map[string]any{
		"name":            "p",
		"dependencies":    map[string]string{"@pulumi/pulumi": "^3.0.0", "missing": "^1.0.0"},
		"devDependencies": map[string]string{"typescript": "5.9.3"},
	})
	writePackage(t, filepath.Join(prog, "node_modules", "@pulumi", "pulumi"), map[string]any{"name": "@pulumi/pulumi", "version": "3.248.0"})
	writePackage(t, filepath.Join(prog, "node_modules", "typescript"), map[string]any{"name": "typescript", "version": "5.9.3"})
	writePackage(t, filepath.Join(prog, "node_modules", "semver"), map[string]any{"name": "semver", "version": "7.7.0"})

	direct, err := programDependencies(prog, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []dependency{{"@pulumi/pulumi", "3.248.0"}, {"missing", "^1.0.0"}, {"typescript", "5.9.3"}}
	if !reflect.DeepEqual(direct, want) {
		t.Fatalf("direct = %v, want %v", direct, want)
	}
	all, err := programDependencies(prog, true)
	if err != nil {
		t.Fatal(err)
	}
	want = []dependency{{"@pulumi/pulumi", "3.248.0"}, {"semver", "7.7.0"}, {"typescript", "5.9.3"}}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("transitive = %v, want %v", all, want)
	}
}

func TestParseRuntimeOptions(t *testing.T) {
	opts, err := parseRuntimeOptions(nil)
	if err != nil || !opts.typescript || opts.packagemanager != "auto" || opts.tsconfig != "" || opts.nodeargs != nil {
		t.Fatalf("defaults: %+v, %v", opts, err)
	}
	s, _ := structpb.NewStruct(map[string]any{
		"typescript": false, "tsconfig": "tsconfig.pulumi.json",
		"nodeargs": `--inspect  --title "a b"`, "packagemanager": "pnpm", "other": 1,
	})
	opts, err = parseRuntimeOptions(s)
	if err != nil {
		t.Fatal(err)
	}
	want := runtimeOptions{typescript: false, tsconfig: "tsconfig.pulumi.json",
		nodeargs: []string{"--inspect", "--title", "a b"}, packagemanager: "pnpm"}
	if !reflect.DeepEqual(opts, want) {
		t.Fatalf("got %+v, want %+v", opts, want)
	}
	bad, _ := structpb.NewStruct(map[string]any{"packagemanager": "maven"})
	if _, err := parseRuntimeOptions(bad); err == nil {
		t.Fatal("an unknown package manager must be an error")
	}
}

func TestPackageManager(t *testing.T) {
	dir := t.TempDir()
	if pm := packageManager("auto", dir); pm != "npm" {
		t.Fatalf("no lock file: %s", pm)
	}
	if err := os.WriteFile(filepath.Join(dir, "pnpm-lock.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if pm := packageManager("auto", dir); pm != "pnpm" {
		t.Fatalf("pnpm-lock.yaml: %s", pm)
	}
	if pm := packageManager("yarn", dir); pm != "yarn" {
		t.Fatalf("explicit option: %s", pm)
	}
}

func TestParseArgs(t *testing.T) {
	got := parseArgs([]string{"--logtostderr", "-v=9", "--tracing", "http://127.0.0.1:9411", "127.0.0.1:4242"})
	want := options{engineAddress: "127.0.0.1:4242", tracing: "http://127.0.0.1:9411", verbose: 9, logToStderr: true}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// Flags of other hosts are accepted and ignored, with or without "=".
	got = parseArgs([]string{"-root=/p", "-typescript=false", "-binary", "out/app", "-nodeargs", "--x", "127.0.0.1:1"})
	if got != (options{engineAddress: "127.0.0.1:1"}) {
		t.Fatalf("got %+v", got)
	}
	if got = parseArgs([]string{"-version"}); !got.showVersion {
		t.Fatalf("-version: %+v", got)
	}
}

func TestRunResult(t *testing.T) {
	exit := func(code string) error { return exec.Command("sh", "-c", "exit "+code).Run() }
	if r := runResult(nil, false); r.Error != "" || r.Bail {
		t.Fatalf("success: %v", r)
	}
	// 32: the runner already showed the error; the engine must only stop.
	if r := runResult(exit("32"), false); !r.Bail || r.Error != "" {
		t.Fatalf("exit 32: %v", r)
	}
	if r := runResult(exit("3"), false); r.Bail || r.Error != "Program exited with non-zero exit code: 3" {
		t.Fatalf("exit 3: %v", r)
	}
	if r := runResult(exit("1"), true); r.Bail || r.Error == "" {
		t.Fatalf("stopped: %v", r)
	}
	// Exit 0, but a process it started kept the output pipe open.
	if r := runResult(exec.ErrWaitDelay, false); r.Bail || r.Error != "" {
		t.Fatalf("exit 0 after WaitDelay: %v", r)
	}
}

func TestProgramEnv(t *testing.T) {
	env, err := programEnv(&pulumirpc.RunRequest{
		Config:           map[string]string{"proj:greeting": "hi", "aws:config:region": "eu-west-1"},
		ConfigSecretKeys: []string{"proj:token"},
	}, runtimeOptions{typescript: true, tsconfig: "tsconfig.pulumi.json"})
	if err != nil {
		t.Fatal(err)
	}
	last := lastValues(env)
	for k, want := range map[string]string{
		"PULUMI_CONFIG":               `{"aws:config:region":"eu-west-1","proj:config:greeting":"hi"}`,
		"PULUMI_CONFIG_SECRET_KEYS":   `["proj:token"]`,
		"PULUMI_NODEJS_TYPESCRIPT":    "true",
		"PULUMI_NODEJS_TSCONFIG_PATH": "tsconfig.pulumi.json",
	} {
		if last[k] != want {
			t.Errorf("%s = %q, want %q", k, last[k], want)
		}
	}
	env, _ = programEnv(&pulumirpc.RunRequest{}, runtimeOptions{})
	last = lastValues(env)
	if last["PULUMI_CONFIG"] != "{}" || last["PULUMI_CONFIG_SECRET_KEYS"] != "[]" || last["PULUMI_NODEJS_TYPESCRIPT"] != "false" {
		t.Errorf("empty request: %v", last)
	}
}

// lastValues maps each variable to the value a child process gets (the last).
func lastValues(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// alive says whether pid is a live process (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestCancelStopsProcessGroup(t *testing.T) {
	h := &host{}
	pidFile := filepath.Join(t.TempDir(), "pid")
	// A "program" that started a process of its own.
	c, err := h.start(exec.Command("sh", "-c", `sleep 60 & echo $! > "$0"; wait`, pidFile))
	if err != nil {
		t.Fatal(err)
	}
	var grandchild int
	for deadline := time.Now().Add(5 * time.Second); grandchild == 0 && time.Now().Before(deadline); {
		b, _ := os.ReadFile(pidFile)
		grandchild, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(10 * time.Millisecond)
	}
	if grandchild == 0 {
		t.Fatal("the test program did not start")
	}

	type result struct {
		stopped bool
		err     error
	}
	done := make(chan result, 1)
	go func() {
		stopped, err := h.wait(context.Background(), c)
		done <- result{stopped, err}
	}()
	if _, err := h.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if !r.stopped || r.err == nil {
			t.Fatalf("wait = %v, %v; want stopped with an error", r.stopped, r.err)
		}
	case <-time.After(killGrace + 5*time.Second):
		t.Fatal("Cancel did not stop the program")
	}
	for deadline := time.Now().Add(killGrace + 5*time.Second); alive(grandchild); {
		if time.Now().After(deadline) {
			t.Fatalf("process %d started by the program survived Cancel", grandchild)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// After shutdown nothing new is started; Cancel alone does not prevent it.
	h.stopAll(true)
	if _, err := h.start(exec.Command("true")); err == nil {
		t.Fatal("start after shutdown must fail")
	}
}
