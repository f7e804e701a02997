package pnpm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// Manager plans the pnpm commands that install (verbs.go).
type Manager struct{}

func (Manager) Name() string { return "pnpm" }

// passFlags are pnpm flags that only shape the result; anything else
// (--dir, --store-dir, --virtual-store-dir, --global, --registry, ...) is
// refused so that a flag cannot undo the sandbox.
var passFlags = []string{
	"--frozen-lockfile", "--no-frozen-lockfile", "--prefer-frozen-lockfile",
	"--prefer-offline", "--prod", "-P", "--dev", "-D", "--no-optional",
	"--strict-peer-dependencies", "--ignore-scripts", "--lockfile-only",
}

// Paths below WorkDir that the fetch writes for the later steps, none of
// which comes back: pnpm itself (the scripts phase runs it too), the
// listing of the work directory before any third-party code ran, and
// pnpm's .bin shims as the fetch made them.
const (
	ToolDir      = ".safe-install"
	BaselineFile = ".safe-install-fetched"
	shimsFile    = ToolDir + "/shims.tar"
	pnpmBinary   = install.WorkDir + "/" + ToolDir + "/pnpm/pnpm"
	// StoreDir is pnpm's content-addressable store, in the manager's cache
	// volume (the fetch container's only).
	StoreDir = "/cache/pnpm-store"
	// metadataDir is pnpm's cache of registry metadata, beside the store:
	// kept between runs as plain pnpm keeps it in ~/.cache/pnpm.
	metadataDir = "/cache/pnpm-metadata"
)

// fetchScript gets pnpm into the cache once per version ($1, with the
// packageManager field's sha512 of pnpm's tarball in $2 when it gives one)
// from the npm registry (the public one, as Corepack's default: a project's
// own registry need not mirror pnpm) through the egress proxy, copies it into the work
// directory, installs with it (the rest of the arguments), then lists the
// work directory with tree.ListScript and keeps pnpm's .bin shims as they
// are (they are rewritten when a package builds; see shim.go). pnpm 12 is
// a native binary in @pnpm/exe.<platform>, found beside the wrapper
// package's dist/ (node-gyp): that is the layout made here, as pnpm's own
// install.js makes it. The tarball's sha512 is kept beside the cached
// pnpm and compared with the packageManager field's on every run: a pin
// is checked also when an earlier project (pinned otherwise, or by the
// host's version) put that pnpm in the cache. No third-party code runs.
const fetchScript = `v=$1 sum=$2; shift 2
case $(uname -m) in x86_64) t=linux-x64;; aarch64) t=linux-arm64;; *) echo "safe-install: pnpm ships no binary for $(uname -m)" >&2; exit 96;; esac
c=/cache/pnpm-bin/$v-$t
if [ ! -x "$c/pnpm" ] || [ ! -s "$c.sha512" ]; then
  mkdir -p /cache/pnpm-bin && d=$(mktemp -d /cache/pnpm-bin/.get.XXXXXX) || exit 97
  (cd "$d" && npm pack --silent --registry=https://registry.npmjs.org/ "pnpm@$v" "@pnpm/exe.$t@$v" >/dev/null) || { echo "safe-install: npm pack pnpm@$v failed" >&2; rm -rf "$d"; exit 96; }
  mkdir "$d/w" "$d/x" && sha512sum "$d/pnpm-$v.tgz" | cut -d' ' -f1 >"$d/sum" && tar -xzf "$d/pnpm-$v.tgz" -C "$d/w" && tar -xzf "$d/pnpm-exe.$t-$v.tgz" -C "$d/x" &&
    cp "$d/x/package/pnpm" "$d/w/package/pnpm" && chmod 755 "$d/w/package/pnpm" && rm -rf "$c" "$c.sha512" && mv "$d/w/package" "$c" && mv "$d/sum" "$c.sha512" || exit 97
  rm -rf "$d"
fi
if [ -n "$sum" ] && [ "$sum" != "$(cat "$c.sha512")" ]; then
  echo "safe-install: pnpm-$v.tgz does not match the sha512 in package.json's packageManager" >&2; exit 95
fi
mkdir -p ` + ToolDir + ` && cp -a "$c" ` + ToolDir + `/pnpm || exit 97
` + pnpmBinary + ` "$@" || exit $?
mkdir -p node_modules $SAFE_INSTALL_MODULES || exit 97
find node_modules $SAFE_INSTALL_MODULES -path '*/.bin/*' -type f -print0 | tar --null -cf ` + shimsFile + ` -T - || exit 97
set -- . ./` + BaselineFile + `
` + tree.ListScript

// baseEnv is the whole environment of every phase; nothing is inherited.
// CI makes pnpm print no progress bars (and default to a frozen lockfile,
// which the plan states either way).
func baseEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"PATH":                "/usr/local/bin:/usr/bin:/bin",
		"HOME":                install.DecoyHome,
		"LANG":                "C.UTF-8",
		"TERM":                "dumb",
		"CI":                  "1",
		"NODE_EXTRA_CA_CERTS": "/etc/ssl/certs/ca-certificates.crt",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// Plan parses `pnpm VERB [flags] [specs]` for the project directory.
func (Manager) Plan(project string, args []string, opts install.PlanOptions) (*install.Plan, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: give a pnpm command, e.g. `safe-install pnpm install --frozen-lockfile`", install.ErrUnsupported)
	}
	v, err := lookupVerb(args[0])
	if err != nil {
		return nil, err
	}
	var flags, specs []string
	ignoreScripts, frozen := false, v.rebuild
	for _, a := range args[1:] {
		switch {
		case a == "--ignore-scripts":
			ignoreScripts = true
		case a == "--frozen-lockfile" && !v.specs:
			frozen = true
		case slices.Contains(v.flags, a) || !v.rebuild && !v.specs && slices.Contains(passFlags, a):
			flags = append(flags, a)
		case strings.HasPrefix(a, "-"):
			return nil, fmt.Errorf("%w: pnpm flag %q is not passed into the sandbox for `pnpm %s`; the flags that are: see `safe-install pnpm --help`", install.ErrPolicy, a, args[0])
		case !v.specs:
			return nil, fmt.Errorf("%w: `pnpm %s` takes no package names here (%q); add packages with `safe-install pnpm add`", install.ErrPolicy, args[0], a)
		default:
			if err := checkSpec(a, opts.AllowGit); err != nil {
				return nil, err
			}
			specs = append(specs, a)
		}
	}
	if v.needSpecs && len(specs) == 0 {
		return nil, fmt.Errorf("%w: `pnpm %s` needs the names of the packages", install.ErrPolicy, args[0])
	}
	if v.rebuild && ignoreScripts {
		return nil, fmt.Errorf("%w: `pnpm %s --ignore-scripts` would build nothing", install.ErrPolicy, args[0])
	}
	switch {
	case frozen:
		flags = append(flags, "--frozen-lockfile")
	case !slices.Contains(flags, "--no-frozen-lockfile") && !slices.Contains(flags, "--prefer-frozen-lockfile"):
		// pnpm defaults to a frozen lockfile in CI, and the sandbox is CI
		// to it: plain `pnpm install` (and add, remove, update) may
		// update the lockfile.
		flags = append(flags, "--no-frozen-lockfile")
	}

	pkgJSON, err := install.ReadProjectFile(project, "package.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading the project's package.json: %w (run safe-install in the project's directory)", err)
	} else if err != nil {
		return nil, fmt.Errorf("reading the project's package.json: %w", err)
	}
	var manifest struct {
		PackageManager string            `json:"packageManager"`
		Scripts        map[string]string `json:"scripts"`
	}
	if err := json.Unmarshal(pkgJSON, &manifest); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(project, "package.json"), err)
	}
	version, sum, err := pnpmVersion(manifest.PackageManager, opts.PNPMVersion)
	if err != nil {
		return nil, err
	}
	ws, err := readWorkspace(project)
	if err != nil {
		return nil, err
	}
	if err := ws.check(); err != nil {
		return nil, err
	}
	wsDirs, err := ws.dirs(project)
	if err != nil {
		return nil, err
	}
	p := &install.Plan{Manager: "pnpm", Args: args, Project: project, Artifacts: []string{"node_modules"},
		Baseline: BaselineFile, Output: pnpmOutput{}}
	p.Inputs = append(p.Inputs, install.Input{Name: "package.json", Source: filepath.Join(project, "package.json"), Mode: 0o644})
	// Each workspace package comes in as its package.json, and its
	// node_modules comes back with the root's, in one journaled swap.
	var wsModules []string
	for _, d := range wsDirs {
		p.Inputs = append(p.Inputs, install.Input{Name: d + "/package.json", Source: filepath.Join(project, filepath.FromSlash(d), "package.json"), Mode: 0o644})
		p.Artifacts = append(p.Artifacts, d+"/node_modules")
		p.LinkTargets = append(p.LinkTargets, d)
		wsModules = append(wsModules, d+"/node_modules")
	}
	haveLock := false
	for _, name := range []string{"pnpm-lock.yaml", "pnpm-workspace.yaml"} {
		if fi, err := os.Stat(filepath.Join(project, name)); err == nil && fi.Mode().IsRegular() {
			p.Inputs = append(p.Inputs, install.Input{Name: name, Source: filepath.Join(project, name), Mode: 0o644})
			haveLock = haveLock || name == "pnpm-lock.yaml"
		}
	}
	if frozen && !haveLock {
		return nil, fmt.Errorf("%w: `pnpm %s` needs pnpm-lock.yaml in %s; run `safe-install pnpm install` first", install.ErrPolicy, strings.Join(args, " "), project)
	}
	pnpmfiles, err := pnpmfileInputs(project, ws, opts.AllowPnpmfile)
	if err != nil {
		return nil, err
	}
	p.Inputs = append(p.Inputs, pnpmfiles...)
	// An allowed pnpmfile or config dependency runs in the fetch, beside
	// the cache that holds pnpm itself and the store: trusted for this
	// project, not for every later one.
	p.PrivateCache = len(pnpmfiles) > 0 || len(ws.codeSettings()) > 0

	rs, err := npm.Registries(project, opts)
	if err != nil {
		return nil, err
	}
	p.Registries = rs.Registries
	if rs.ProjectRC != nil {
		p.Inputs = append(p.Inputs, install.Input{Name: ".npmrc", Data: rs.ProjectRC, Mode: 0o644})
	}
	p.FetchOnly = []install.Input{{Name: "npmrc", Data: rs.FetchRC, Mode: 0o644}}
	switch {
	case v.specs:
		// Written by pnpm in the fetch, before any third-party code ran.
		p.Manifests = []string{"package.json", "pnpm-lock.yaml"}
	case !frozen:
		p.Manifests = []string{"pnpm-lock.yaml"}
	}

	pnpmArgs := append(append([]string{v.fetch, "--ignore-scripts", "--store-dir=" + StoreDir, "--cache-dir=" + metadataDir, "--package-import-method=copy"}, flags...), specs...)
	proxy := fmt.Sprintf("http://127.0.0.1:%d/", egress.RelayPort)
	p.Fetch = install.Phase{
		Command: append(egress.RelayCommand("sh", "-c", fetchScript, "sh", version, sum), pnpmArgs...),
		Env: baseEnv(map[string]string{
			// npm (which fetches pnpm) and pnpm read the same config;
			// both reach the registries only through the relay.
			"npm_config_userconfig":      install.FetchConfigDir + "/npmrc",
			"npm_config_cache":           "/cache/npm",
			"npm_config_update_notifier": "false",
			"HTTPS_PROXY":                proxy,
			"HTTP_PROXY":                 proxy,
			"NO_PROXY":                   "",
			// The egress proxy's per-run CA: the only HTTPS peer there is.
			"NODE_EXTRA_CA_CERTS": install.FetchConfigDir + "/ca.pem",
			// The workspace packages' node_modules (plainDir names).
			"SAFE_INSTALL_MODULES": strings.Join(wsModules, " "),
		}),
	}
	p.FetchSummary = "pnpm " + strings.Join(pnpmArgs, " ") + " (pnpm " + version + ")"

	pol := readPolicy(pkgJSON, ws, opts.AllowScripts, opts.DenyScripts, opts.AllUnreviewed)
	p.Policy = pol.ScriptPolicy
	if !ignoreScripts && (pol.AllUnreviewed || len(pol.Allowed) > 0 || pol.all) {
		// The packages to rebuild are added after the fetch, by name, from
		// pnpm's own record of the builds it skipped (see Fetched).
		p.Scripts = &install.Phase{
			// The store is the fetch container's; rebuild gets a scratch one
			// (without one it makes node_modules/.pnpm-store).
			Command: []string{pnpmBinary, "rebuild", "--offline", "--store-dir=/tmp/pnpm-store", "--dangerously-allow-all-builds"},
			Env:     scriptsEnv(),
		}
	}
	if p.Scripts != nil && len(wsDirs) > 0 {
		// Without it pnpm rebuild takes the root's dependencies only.
		p.Scripts.Command = append(p.Scripts.Command, "--recursive")
	}
	if !ignoreScripts {
		if err := refuseOwnScripts("", manifest.Scripts); err != nil {
			return nil, err
		}
		for _, d := range wsDirs {
			if err := workspaceScripts(project, d); err != nil {
				return nil, err
			}
		}
	}
	p.Tools = []install.Input{npm.NetlogTool()}
	p.Session = &session{policy: pol, scripts: p.Scripts != nil, workspaces: wsDirs, hostStore: opts.PNPMStoreDir,
		cooldown: opts.MinReleaseAge, registries: p.Registries, defaultRegistry: rs.Default}
	return p, nil
}

// scriptsEnv is the environment of the scripts phase.
//   - nodedir: node-gyp builds against the image's headers instead of
//     downloading them (no network here).
//   - userconfig: pnpm must not read the decoy ~/.npmrc, so that any read
//     of it is a package's.
//   - PYTHONDONTWRITEBYTECODE: gyp would write __pycache__ into a package
//     that ran no script (see sandbox/npm's scriptsEnv).
//   - NODE_OPTIONS and SAFE_INSTALL_NETLOG: netlog.js notes what each
//     script tries to reach.
//   - minimum release age 0: pnpm rebuild checks the lockfile against the
//     release-age policy again, from registry metadata it cannot reach
//     offline; the fetch checked it, with the project's setting.
func scriptsEnv() map[string]string {
	return baseEnv(map[string]string{"pnpm_config_minimum_release_age": "0", "npm_config_nodedir": "/usr/local", "npm_config_userconfig": "/nonexistent/npmrc",
		"PYTHONDONTWRITEBYTECODE": "1", "NODE_OPTIONS": "--require " + install.ToolsDir + "/netlog.js", "SAFE_INSTALL_NETLOG": npm.NetLog})
}

// refuseOwnScripts refuses the lifecycle scripts of the project's own
// package.json (dir "" for the root, else a workspace package's).
func refuseOwnScripts(dir string, scripts map[string]string) error {
	events := projectEvents(scripts)
	if len(events) == 0 {
		return nil
	}
	whose := "the project's own"
	if dir != "" {
		whose = "the workspace package " + dir + "'s own"
	}
	return fmt.Errorf("%w: %s %s scripts would run after the install, which safe-install does not do for pnpm yet; "+
		"run `safe-install pnpm install --ignore-scripts` and then `pnpm run %s` on the host", install.ErrPolicy, whose, strings.Join(events, ", "), events[0])
}

// workspaceScripts reads a workspace package's scripts and refuses its
// lifecycle scripts, as the root's.
func workspaceScripts(project, dir string) error {
	file := filepath.Join(project, filepath.FromSlash(dir), "package.json")
	data, err := readStaged(file, maxWorkspaceFile)
	if err != nil {
		return fmt.Errorf("reading the workspace package %s: %w", dir, err)
	}
	var m struct {
		Scripts map[string]string `json:"scripts"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("parsing %s: %w", file, err)
	}
	return refuseOwnScripts(dir, m.Scripts)
}

// rootEvents are the project's own lifecycle scripts pnpm install runs.
var rootEvents = []string{"preinstall", "install", "postinstall", "preprepare", "prepare", "postprepare"}

func projectEvents(scripts map[string]string) []string {
	var out []string
	for _, e := range rootEvents {
		if scripts[e] != "" {
			out = append(out, e)
		}
	}
	return out
}

// pnpmfileInputs refuses the project's pnpmfile (code pnpm runs while it
// resolves, in the fetch container, which reaches the registries and holds
// the relay) unless the user allows it, and then copies it in.
func pnpmfileInputs(project string, ws workspace, allow bool) ([]install.Input, error) {
	if code := ws.codeSettings(); len(code) > 0 && !allow {
		return nil, fmt.Errorf("%w: pnpm-workspace.yaml sets %s: code that pnpm loads while it resolves, with the registries in reach; "+
			"review it and rerun with --allow-pnpmfile, or remove the setting", install.ErrPolicy, strings.Join(code, "; "))
	}
	names := append([]string{".pnpmfile.cjs", ".pnpmfile.mjs"}, ws.Pnpmfile...)
	if ws.GlobalPnpmfile != "" {
		names = append(names, ws.GlobalPnpmfile)
	}
	var out []install.Input
	for _, name := range names {
		clean := filepath.ToSlash(filepath.Clean(name))
		if filepath.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, fmt.Errorf("%w: pnpm-workspace.yaml names a pnpmfile outside the project (%q)", install.ErrPolicy, name)
		}
		fi, err := os.Lstat(filepath.Join(project, clean))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !allow {
			return nil, fmt.Errorf("%w: the project has %s, code that pnpm runs while it resolves, with the registries in reach; "+
				"review it and rerun with --allow-pnpmfile, or remove it", install.ErrPolicy, clean)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%w: %s is not a regular file", install.ErrPolicy, clean)
		}
		out = append(out, install.Input{Name: clean, Source: filepath.Join(project, clean), Mode: 0o644})
	}
	return out, nil
}
