package npm

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/images"
	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/fetchedtree"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// Manager plans the npm commands that reify a tree (verbs.go).
type Manager struct{}

func (Manager) Name() string { return "npm" }

// npmPassFlags are npm flags that only shape the result; anything else
// (--prefix, --global, --script-shell, --registry, ...) is refused so that a
// flag cannot undo the sandbox.
var npmPassFlags = []string{
	"--save", "-S", "--no-save", "--save-dev", "-D", "--save-optional", "-O",
	"--save-peer", "--save-exact", "-E", "--save-prod", "-P", "--save-bundle", "-B",
	"--legacy-peer-deps", "--strict-peer-deps", "--no-audit", "--no-fund",
	"--prefer-offline", "--prefer-online", "--production", "--no-package-lock",
	"--package-lock-only", "--ignore-scripts", "--foreground-scripts", "--force",
	"--install-strategy=hoisted", "--install-strategy=nested", "--install-strategy=shallow",
	"--install-links", "--no-optional",
}

var npmPassFlagPrefixes = []string{"--omit=", "--include=", "--save-prefix=", "--tag=", "--cpu=", "--os=", "--libc="}

// BaselineFile is where, below WorkDir, the fetch lists node_modules as
// npm left it (tree.ListScript's .list and .sums).
const BaselineFile = ".safe-install-fetched"

// baselineScript runs npm with its arguments, then lists the work
// directory with tree.ListScript (an install with nothing to install
// leaves an empty node_modules). No third-party code has run yet.
const baselineScript = `npm "$@" || exit $?
mkdir -p node_modules || exit 97
set -- . ./` + BaselineFile + `
` + tree.ListScript

// fetchScript runs npm with its arguments and lists nothing (a plan's
// BaselineLater).
const fetchScript = `npm "$@" || exit $?
mkdir -p node_modules || exit 97`

// treeScript lists the project's node_modules as it was copied in (npm
// rebuild: no npm runs in the fetch, and nothing is fetched).
const treeScript = `set -- . ./` + BaselineFile + `
` + tree.ListScript

// npmEnv is the whole environment of both phases; nothing is inherited.
func npmEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"PATH":                       "/usr/local/bin:/usr/bin:/bin",
		"HOME":                       "/home/sandbox",
		"LANG":                       "C.UTF-8",
		"TERM":                       "dumb",
		"CI":                         "1",
		"NODE_EXTRA_CA_CERTS":        "/etc/ssl/certs/ca-certificates.crt",
		"npm_config_update_notifier": "false",
		"npm_config_fund":            "false",
		"npm_config_audit":           "false",
		"npm_config_progress":        "false",
		"npm_config_cache":           "/home/sandbox/.npm",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// Plan parses `npm VERB [flags] [specs]` for the project directory.
func (Manager) Plan(project string, args []string, opts install.PlanOptions) (*install.Plan, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: give an npm command, e.g. `safe-install npm ci`", install.ErrUnsupported)
	}
	v, ok := lookupVerb(args[0])
	if slices.Contains([]string{"exec", "x"}, args[0]) {
		return nil, fmt.Errorf("%w: `npm %s` runs a package's code by design, which an install sandbox cannot make safe: install the tool with `safe-install npm install -D TOOL`, then `npm exec --offline TOOL` runs that reviewed copy (the README's Use section)", install.ErrUnsupported, args[0])
	}
	if !ok {
		return nil, fmt.Errorf("%w: `npm %s` is not an install; run it with npm directly (safe-install wraps the commands that install: ci, install, update, uninstall, rebuild, dedupe, prune, install-test, install-ci-test)", install.ErrUnsupported, args[0])
	}
	ci := v.ci
	var flags, specs []string
	ignoreScripts := false
	for _, a := range args[1:] {
		switch {
		case a == "--ignore-scripts":
			ignoreScripts = true
		case a == "--foreground-scripts":
			// The scripts phase always runs in the foreground.
		case slices.Contains(npmPassFlags, a) || hasAnyPrefix(a, npmPassFlagPrefixes):
			flags = append(flags, a)
		case strings.HasPrefix(a, "-"):
			return nil, fmt.Errorf("%w: npm flag %q is not passed into the sandbox; the flags that are: see `safe-install npm --help`", install.ErrPolicy, a)
		default:
			if ci {
				return nil, fmt.Errorf("%w: `npm %s` takes no package names; use `safe-install npm install %s`", install.ErrPolicy, args[0], a)
			}
			if !v.specs {
				return nil, fmt.Errorf("%w: `npm %s` takes no package names here; run `safe-install npm %s` for the whole tree", install.ErrPolicy, args[0], args[0])
			}
			if err := CheckSpec(a, opts.AllowGit); err != nil {
				return nil, err
			}
			if v.rebuild {
				if err := checkRebuildSpec(a); err != nil {
					return nil, err
				}
			}
			specs = append(specs, a)
		}
	}
	if v.needSpecs && len(specs) == 0 {
		return nil, fmt.Errorf("%w: `npm %s` needs the names of the packages to remove", install.ErrPolicy, args[0])
	}

	p := &install.Plan{Manager: "npm", Args: args, Project: project, Artifacts: []string{"node_modules"},
		Baseline: BaselineFile, Output: npmOutput{}}
	pkgJSON, err := install.ReadProjectFile(project, "package.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading the project's package.json: %w (run safe-install in the project's directory)", err)
	} else if err != nil {
		return nil, fmt.Errorf("reading the project's package.json: %w", err)
	}
	var manifest npmManifest
	if err := json.Unmarshal(pkgJSON, &manifest); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(project, "package.json"), err)
	}
	p.Inputs = append(p.Inputs, install.Input{Name: "package.json", Source: filepath.Join(project, "package.json"), Mode: 0o644})

	lock, lockData := "", []byte(nil)
	for _, name := range []string{"npm-shrinkwrap.json", "package-lock.json"} {
		data, err := install.ReadProjectFile(project, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		lock, lockData = name, data
		p.Inputs = append(p.Inputs, install.Input{Name: name, Source: filepath.Join(project, name), Mode: 0o644})
		break
	}
	if ci && lock == "" {
		return nil, fmt.Errorf("%w: `npm ci` needs package-lock.json or npm-shrinkwrap.json in %s; run `safe-install npm install` first", install.ErrPolicy, project)
	}
	var lockfile layout.Lockfile
	if lock != "" {
		if err := json.Unmarshal(lockData, &lockfile); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", lock, err)
		}
	}
	if err := checkNPMDependencies(manifest, lockfile, opts.AllowGit); err != nil {
		return nil, err
	}
	ws, err := workspaceInputs(project, manifest.workspaces())
	if err != nil {
		return nil, err
	}
	p.Inputs = append(p.Inputs, ws...)
	for _, in := range ws {
		p.LinkTargets = append(p.LinkTargets, path.Dir(in.Name))
	}
	local, links, err := localDependencyInputs(project, manifest, lockfile)
	if err != nil {
		return nil, err
	}
	p.Inputs = append(p.Inputs, local...)
	p.LinkTargets = append(p.LinkTargets, links...)
	incr, why := planIncremental(project, v, flags, manifest, lock, lockfile, links)
	if p.Tree = why; why != "" && opts.Warn != nil {
		opts.Warn(why)
	}
	if incr != nil {
		p.Tree = "incremental"
	}
	if v.rebuild {
		// npm rebuild works on the installed tree: it comes in whole, and
		// the listing the fetch makes of it is the copy-back rule's
		// baseline, as a fetched tree's is.
		if fi, err := os.Lstat(filepath.Join(project, "node_modules")); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%w: `npm %s` rebuilds the installed node_modules, and %s has none: run `safe-install npm ci` (or install) instead", install.ErrPolicy, args[0], project)
		}
		installed, err := install.TreeInputs(project, "node_modules")
		if err != nil {
			return nil, err
		}
		p.Inputs = append(p.Inputs, installed...)
	}

	rs, err := Registries(project, opts)
	if err != nil {
		return nil, err
	}
	p.Registries = rs.Registries
	if err := checkResolvedHosts(lockfile, lock, p.Registries); err != nil {
		return nil, err
	}
	if rs.ProjectRC != nil {
		p.Inputs = append(p.Inputs, install.Input{Name: ".npmrc", Data: rs.ProjectRC, Mode: 0o644})
	}
	p.FetchOnly = []install.Input{{Name: "npmrc", Data: rs.FetchRC, Mode: 0o644}}

	// After npm, and before any third-party code runs, the fetch
	// container lists the sha256 of every file npm extracted (the tamper
	// check's baseline): coreutils in the container hash in well under a
	// second what would take seconds to stream out through the API.
	fetchCmd := []string{"sh", "-c", baselineScript, "sh", v.fetch} // behind the relay, below
	if !ci && !v.rebuild {
		// install, update, uninstall, dedupe and prune write the
		// manifests as npm left them in the fetch.
		p.Manifests = []string{"package.json", "package-lock.json"}
		if lock == "npm-shrinkwrap.json" {
			p.Manifests[1] = lock
		}
		if slices.Contains(flags, "--no-save") || slices.Contains(flags, "--no-package-lock") {
			p.Manifests = nil
		}
	}
	fetchCmd = append(fetchCmd, "--ignore-scripts")
	fetchCmd = append(fetchCmd, flags...)
	fetchCmd = append(fetchCmd, specs...)
	p.FetchSummary = strings.Join(append([]string{"npm"}, fetchCmd[4:]...), " ")
	if v.fetch == "ci" && !opts.AllowGit && !slices.Contains(flags, "--prefer-online") && len(p.LinkTargets) == 0 {
		// npm ci's tree follows from the inputs alone: the next run of
		// the same inputs restores it (package fetchedtree; git
		// dependencies and --prefer-online ask for the network's word;
		// workspaces and file: directories get node_modules of their own
		// outside the archived one).
		fetchCmd[2] = fetchedtree.Wrap(baselineScript, "node_modules", BaselineFile+".list", BaselineFile+".sums")
		p.FetchedTree = true
	}
	if v.rebuild {
		fetchCmd = []string{"sh", "-c", treeScript}
		p.FetchSummary = "listing node_modules for npm rebuild (nothing is fetched)"
	}
	// Every fetch runs behind the relay, which starts it only once the
	// inputs are in (the container itself may start before).
	p.Fetch = install.Phase{Command: egress.RelayCommand(fetchCmd...), Env: npmEnv(map[string]string{
		"npm_config_userconfig": install.FetchConfigDir + "/npmrc",
		"npm_config_cache":      "/cache/npm",
		// The egress proxy's per-run CA: the only HTTPS peer there is.
		"NODE_EXTRA_CA_CERTS": install.FetchConfigDir + "/ca.pem",
	})}
	npmMajor := images.Major(opts.NPMVersion)
	pol := readScriptPolicy(pkgJSON, opts.AllowScripts, opts.DenyScripts, npmMajor, opts.AllUnreviewed)
	pol.NotReviewed = pol.notReviewed(lockfile)
	p.Policy = install.ScriptPolicy(pol)
	// --timing: npm writes how long each package's script ran
	// (build:run:EVENT:LOCATION) to its log directory, read after the phase.
	// The packages to rebuild are added after the fetch, as name@version
	// from the fetched lockfile (see rebuildTargets): exactly those the
	// copy-back rule then treats as having run.
	rebuild := []string{"npm", "rebuild", "--foreground-scripts", "--timing"}
	if npmMajor >= 12 {
		// safe-install has decided which run (the policy above, npm 12's
		// rule unless --sandbox-all-scripts); npm 12 would also hold back
		// what --allow-scripts allowed.
		rebuild = append(rebuild, "--dangerously-allow-all-scripts")
	}
	// npm ci installs exactly the lockfile: when it lists no package with
	// install scripts there is nothing to run, and no container to start.
	noScripts := ci && lockfile.WithoutScripts()
	if !ignoreScripts && !noScripts && (!p.Policy.Active || p.Policy.AllUnreviewed || len(p.Policy.Allowed) > 0) {
		p.Scripts = &install.Phase{
			// rebuild runs every dependency's preinstall, install (also the
			// implicit node-gyp one) and postinstall, offline.
			Command: rebuild,
			Env:     scriptsEnv(),
		}
	}
	// The project's own lifecycle scripts run after the dependencies'.
	// npm install and ci run them; npm update, uninstall, dedupe and prune
	// do not, but they change a tree in place, and the sandbox builds that
	// tree anew: what the project's postinstall made of it (patch-package's
	// patches) would be lost, so they run here too. npm rebuild runs them
	// when no package is named. An incremental update or uninstall changes the
	// host's tree in place, as npm does: no project script, and the
	// patches that tree carries stay.
	inPlace := incr != nil && v.fetch != "install"
	if !ignoreScripts && !inPlace && (!v.rebuild || len(specs) == 0) {
		var events []string
		for _, e := range rootEvents {
			if manifest.Scripts[e] != "" && (!v.rebuild || slices.Contains(rebuildRootEvents, e)) {
				events = append(events, e)
			}
		}
		if len(events) > 0 {
			if p.ProjectInputs, err = projectInputs(project, p.Inputs); err != nil {
				return nil, err
			}
			p.ProjectEvents = events
			p.ProjectScripts = &install.Phase{
				Command: append([]string{"sh", "-c", projectScript, "sh"}, events...),
				Env:     scriptsEnv(),
			}
		}
	}
	if incr != nil {
		// npm changes the installed tree in place, as on the host: it
		// comes in, links as links (package incremental); without project
		// scripts, only what npm reads, the rest before a scripts phase.
		installed := incr.Dated(incr.Inputs())
		if p.ProjectScripts == nil {
			installed = incr.Split(installed)
		} else {
			incr.Whole = true
		}
		p.Inputs = append(p.Inputs, installed...)
		if !incr.Whole && !v.rebuild {
			// What changes is a package or two, whose scripts most often
			// are none: the baseline is listed only for a scripts phase.
			fetchCmd[2], p.BaselineLater = fetchScript, true // sh -c SCRIPT
			p.Fetch.Command = egress.RelayCommand(fetchCmd...)
		}
	}
	lockName := lock
	if lockName == "" {
		lockName = "package-lock.json" // what npm install writes
	}
	p.Tools = []install.Input{NetlogTool()}
	s := &npmSession{lockfile: lockName, policy: pol, scripts: p.Scripts != nil, registries: p.Registries, cooldown: opts.MinReleaseAge, incr: incr}
	if v.rebuild {
		// What runs is what the installed tree's record says, of the
		// packages named; nothing new is fetched, so no cooldown applies.
		s.treeLock, s.only, s.cooldown = true, specs, 0
	}
	p.Session = s
	if v.test {
		p.HostAfter = []string{"npm", "test"}
		if ignoreScripts {
			// npm install-test --ignore-scripts runs the test script
			// itself but not pretest or posttest: the flag is npm's
			// config for the whole command.
			p.HostAfter = append(p.HostAfter, "--ignore-scripts")
		}
	}
	return p, nil
}

// scriptsEnv is the environment of the scripts phases.
//   - offline and nodedir: node-gyp builds against the image's headers
//     instead of downloading them (it has no network here).
//   - userconfig: npm itself must not read the decoy ~/.npmrc, so that any
//     read of it is a package's.
//   - PYTHONDONTWRITEBYTECODE: gyp is Python; it would write __pycache__
//     into the node-gyp package a build runs from (sqlite3, node-sass use
//     node_modules/node-gyp), a package that ran no script, and copy-back
//     rightly refuses such files: a planted .pyc runs the next time the
//     host's node-gyp does.
//   - NODE_OPTIONS and SAFE_INSTALL_NETLOG: netlog.js, from a volume the
//     scripts cannot write, notes what each script tries to reach.
func scriptsEnv() map[string]string {
	return npmEnv(map[string]string{"npm_config_offline": "true", "npm_config_nodedir": "/usr/local",
		"npm_config_userconfig": "/nonexistent/npmrc", "PYTHONDONTWRITEBYTECODE": "1",
		"NODE_OPTIONS": "--require " + install.ToolsDir + "/netlog.js", "SAFE_INSTALL_NETLOG": NetLog})
}

// NetLog is where netlog.js notes network attempts: in the phase's own
// home, which no other phase sees (in the work directory, a dependency
// could make it a link that the project's scripts then append through).
const NetLog = install.DecoyHome + "/.cache/safe-install-net.log"

// projectInputs are the project's files for its own scripts (patch-package
// reads patches/, a prepare may build src/), as dirInputs filters them (no
// hidden directories such as .git, no secrets by convention), except those
// already copied in.
func projectInputs(project string, have []install.Input) ([]install.Input, error) {
	all, err := install.DirInputs(project, project)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, in := range have {
		// package.json too: the project's scripts get it as the fetch
		// left it (npm install changes it), which the check before their
		// phase holds the work directory to.
		seen[in.Name] = true
	}
	return slices.DeleteFunc(all, func(in install.Input) bool { return seen[in.Name] }), nil
}

func userNpmrc(opts install.PlanOptions) string {
	if f := opts.Env["NPM_CONFIG_USERCONFIG"]; f != "" {
		return f
	}
	if f := opts.Env["npm_config_userconfig"]; f != "" {
		return f
	}
	return filepath.Join(opts.Home, ".npmrc")
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// rootEvents are the project's own lifecycle scripts that npm ci and npm
// install run after the dependencies' (husky's prepare, patch-package's
// postinstall), in npm's order.
var rootEvents = []string{"preinstall", "install", "postinstall", "preprepare", "prepare", "postprepare"}

// rebuildRootEvents are those npm rebuild runs (with no package named).
var rebuildRootEvents = []string{"preinstall", "install", "postinstall"}

// projectScript runs each named script of the project, in order;
// --ignore-scripts keeps `npm run` from adding pre- and post- hooks, which
// are named explicitly instead.
const projectScript = `for e; do npm run --ignore-scripts --foreground-scripts "$e" || exit $?; done`
