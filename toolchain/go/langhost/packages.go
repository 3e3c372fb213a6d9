package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/blang/semver"
	"github.com/google/shlex"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"google.golang.org/protobuf/types/known/structpb"
)

// packageJSON is the part of a package.json this host reads.
type packageJSON struct {
	Name            string            `json:"name"`
	Version         string            `json:"version"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
	// Raw, because some packages (@pulumi/pulumi itself) put other things
	// there, e.g. {"comment": "..."}, and a few put a non-object.
	Pulumi json.RawMessage `json:"pulumi"`
}

// pulumiSection is the "pulumi" object of a provider SDK's package.json.
type pulumiSection struct {
	Resource         bool              `json:"resource"`
	Name             string            `json:"name"`
	Version          string            `json:"version"`
	Server           string            `json:"server"`
	Parameterization *parameterization `json:"parameterization"`
}

// parameterization marks an SDK generated for a parameterized provider; value
// is base64 in package.json, which encoding/json decodes into []byte.
type parameterization struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Value   []byte `json:"value"`
}

// pluginDep is one resource plugin a program needs.
type pluginDep struct {
	Name             string
	Version          string
	Server           string
	Parameterization *parameterization
}

func (d pluginDep) key() string {
	k := d.Name + "@" + d.Version + " " + d.Server
	if p := d.Parameterization; p != nil {
		k += " " + p.Name + "@" + p.Version
	}
	return k
}

func readPackageJSON(path string) (*packageJSON, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pkg packageJSON
	if err := json.Unmarshal(b, &pkg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &pkg, nil
}

// pluginFromPackage says whether pkg is the SDK of a resource plugin and, if
// so, which one. The rules of the package.json convention: "pulumi.resource"
// must be true; the name is "pulumi.name", else the npm name without the
// @pulumi/ scope (other packages must give "pulumi.name"); the version is
// "pulumi.version", else the npm version.
func pluginFromPackage(pkg *packageJSON) (pluginDep, bool, error) {
	var sec pulumiSection
	if len(pkg.Pulumi) == 0 || json.Unmarshal(pkg.Pulumi, &sec) != nil || !sec.Resource {
		return pluginDep{}, false, nil
	}
	name := sec.Name
	if name == "" {
		var ok bool
		if name, ok = strings.CutPrefix(pkg.Name, "@pulumi/"); !ok || name == "" {
			return pluginDep{}, false, fmt.Errorf(`third-party package %q has no "pulumi.name"`, pkg.Name)
		}
	}
	version := sec.Version
	if version == "" {
		version = pkg.Version
	}
	// The engine rejects the whole answer if one version is not semver, so
	// a bad package is reported and left out instead.
	if _, err := semver.ParseTolerant(version); err != nil {
		return pluginDep{}, false, fmt.Errorf("version %q of plugin %s: %w", version, name, err)
	}
	if !strings.HasPrefix(version, "v") {
		version = "v" + version
	}
	return pluginDep{Name: name, Version: version, Server: sec.Server, Parameterization: sec.Parameterization}, true, nil
}

// programNodeModules is the node_modules directory the program's requires
// are resolved from: the program directory's own, or else (npm/yarn
// workspaces hoist everything to the workspace root) the nearest one above.
func programNodeModules(programDir string) (string, bool) {
	for dir := programDir; ; dir = filepath.Dir(dir) {
		nm := filepath.Join(dir, "node_modules")
		if fi, err := os.Stat(nm); err == nil && fi.IsDir() {
			return nm, true
		}
		if filepath.Dir(dir) == dir {
			return "", false
		}
	}
}

// walkPackages calls visit for every package installed under the
// node_modules directory nm, deeply: scoped packages (@scope/name), packages
// nested in a package's own node_modules, and pnpm's .pnpm store. Symlinks
// are followed (pnpm, npm link) but each real directory is visited once.
func walkPackages(nm string, visit func(dir string, pkg *packageJSON)) {
	seen := map[string]bool{}
	var walkNM func(nm string)
	var walkPkg func(dir string)

	walkPkg = func(dir string) {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil || seen[real] {
			return
		}
		seen[real] = true
		if pkg, err := readPackageJSON(filepath.Join(dir, "package.json")); err == nil {
			visit(dir, pkg)
		} else if !errors.Is(err, os.ErrNotExist) {
			logging.V(5).Infof("skipping package %s: %v", dir, err)
		}
		walkNM(filepath.Join(dir, "node_modules"))
	}

	walkNM = func(nm string) {
		entries, err := os.ReadDir(nm)
		if err != nil {
			return // most packages have no node_modules of their own
		}
		for _, e := range entries {
			name := e.Name()
			switch {
			case name == ".pnpm":
				// pnpm keeps every package as .pnpm/<name@version>/node_modules/<name>.
				store, _ := os.ReadDir(filepath.Join(nm, name))
				for _, s := range store {
					walkNM(filepath.Join(nm, name, s.Name(), "node_modules"))
				}
			case strings.HasPrefix(name, "."):
				// .bin, .cache, .package-lock.json, ...
			case strings.HasPrefix(name, "@"):
				scoped, _ := os.ReadDir(filepath.Join(nm, name))
				for _, s := range scoped {
					walkPkg(filepath.Join(nm, name, s.Name()))
				}
			default:
				walkPkg(filepath.Join(nm, name))
			}
		}
	}

	walkNM(nm)
}

// requiredPlugins lists, de-duplicated and sorted, the resource plugins of
// the provider SDKs installed for the program in programDir.
func requiredPlugins(programDir string) ([]pluginDep, error) {
	if _, err := os.Stat(programDir); err != nil {
		return nil, err
	}
	nm, ok := programNodeModules(programDir)
	if !ok {
		return nil, nil // nothing installed yet: no plugins to announce
	}
	found := map[string]pluginDep{}
	walkPackages(nm, func(dir string, pkg *packageJSON) {
		dep, ok, err := pluginFromPackage(pkg)
		if err != nil {
			logging.V(3).Infof("ignoring plugin of %s: %v", dir, err)
		}
		if ok {
			found[dep.key()] = dep
		}
	})
	deps := make([]pluginDep, 0, len(found))
	for _, d := range found {
		deps = append(deps, d)
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].key() < deps[j].key() })
	return deps, nil
}

// dependency is one npm package of the program, as `pulumi about` lists it.
type dependency struct{ Name, Version string }

// programDependencies lists the program's npm dependencies with the versions
// installed (or the range asked for, when not installed). With transitive,
// every package installed under node_modules is listed instead.
func programDependencies(programDir string, transitive bool) ([]dependency, error) {
	nm, haveNM := programNodeModules(programDir)
	set := map[dependency]bool{}
	if transitive {
		if haveNM {
			walkPackages(nm, func(_ string, pkg *packageJSON) {
				if pkg.Name != "" {
					set[dependency{pkg.Name, pkg.Version}] = true
				}
			})
		}
	} else {
		pkg, err := readPackageJSON(filepath.Join(programDir, "package.json"))
		if err != nil {
			return nil, fmt.Errorf("reading the program's package.json: %w", err)
		}
		for _, deps := range []map[string]string{pkg.Dependencies, pkg.DevDependencies} {
			for name, wanted := range deps {
				version := wanted
				if haveNM {
					if inst, err := readPackageJSON(filepath.Join(nm, name, "package.json")); err == nil {
						version = inst.Version
					}
				}
				set[dependency{name, version}] = true
			}
		}
	}
	out := make([]dependency, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

// errNoSDK is what a program without an installed @pulumi/pulumi gets.
var errNoSDK = errors.New("It looks like the Pulumi SDK has not been installed. " +
	"Have you run npm install or yarn install?")

// findRunScript finds @pulumi/pulumi/cmd/run/index.js the way node's
// require would from programDir: in node_modules of that directory or of
// any directory above it. The program must run with its own copy of the
// SDK, since the runner and the program share the SDK's global state.
func findRunScript(programDir string) (string, error) {
	for dir := programDir; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "node_modules", "@pulumi", "pulumi", "cmd", "run", "index.js")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("%w (no node_modules/@pulumi/pulumi in %s or above)", errNoSDK, programDir)
		}
	}
}

// runtimeOptions are the `runtime.options` of Pulumi.yaml this host honours.
type runtimeOptions struct {
	typescript     bool     // typescript: run through ts-node (default true)
	tsconfig       string   // tsconfig: path given to ts-node
	nodeargs       []string // nodeargs: extra arguments for node itself
	packagemanager string   // packagemanager: auto (default), npm, yarn, pnpm or bun
}

func parseRuntimeOptions(s *structpb.Struct) (runtimeOptions, error) {
	opts := runtimeOptions{typescript: true, packagemanager: "auto"}
	for k, v := range s.AsMap() {
		switch k {
		case "typescript":
			switch b := v.(type) {
			case bool:
				opts.typescript = b
			case string: // typescript: "false" from a hand-written Pulumi.yaml
				opts.typescript = b != "false"
			default:
				return opts, fmt.Errorf("runtime option typescript must be a boolean, not %v", v)
			}
		case "tsconfig":
			opts.tsconfig = fmt.Sprint(v)
		case "nodeargs":
			// Split like a shell would, so quoted arguments keep their spaces.
			args, err := shlex.Split(fmt.Sprint(v))
			if err != nil {
				return opts, fmt.Errorf("runtime option nodeargs: %w", err)
			}
			opts.nodeargs = args
		case "packagemanager":
			switch pm := fmt.Sprint(v); pm {
			case "auto", "npm", "yarn", "pnpm", "bun":
				opts.packagemanager = pm
			case "":
			default:
				return opts, fmt.Errorf("unknown packagemanager %q (auto, npm, yarn, pnpm or bun)", pm)
			}
		default:
			logging.V(5).Infof("ignoring runtime option %s", k)
		}
	}
	return opts, nil
}

// packageManager is the tool `pulumi install` runs in dir: the one the
// packagemanager option names, or for "auto" the one whose lock file is
// there (npm when none is).
func packageManager(opt, dir string) string {
	if opt != "auto" {
		return opt
	}
	for _, c := range []struct{ lock, pm string }{
		{"package-lock.json", "npm"}, {"yarn.lock", "yarn"}, {"pnpm-lock.yaml", "pnpm"},
		{"bun.lock", "bun"}, {"bun.lockb", "bun"},
	} {
		if _, err := os.Stat(filepath.Join(dir, c.lock)); err == nil {
			return c.pm
		}
	}
	return "npm"
}
