package pnpm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// session is pnpm's part in a run: pnpm's own record of the builds it
// skipped in the fetch (node_modules/.modules.yaml's pendingBuilds,
// written before any third-party code ran) and the policy decide which
// packages build, and so the copy-back rule.
type session struct {
	policy          policy
	scripts         bool     // the plan has a scripts phase
	workspaces      []string // the workspace packages' directories
	hostStore       string   // the host's pnpm store ("": unknown)
	cooldown        time.Duration
	registries      []egress.Registry // where publication times are read
	defaultRegistry string            // of the lockfile's packages that name none

	modules map[string]any // .modules.yaml as the fetch left it (nil: none)
	pending []string       // its pendingBuilds: depPaths (name@version, peers in parentheses)
	rebuild []string       // the names the scripts phase rebuilds
	held    []string       // pending builds that do not run
	shims   map[string]rewrite
	built   []string // the rebuilt packages, name@version, for messages
	rule    *pnpmTree
	found   install.Findings
}

const (
	modulesFile = "node_modules/.modules.yaml"
	// maxModules bounds .modules.yaml read on the host.
	maxModules = 16 << 20
)

func (s *session) Fetched(ctx context.Context, f install.Files, say install.Say) (install.ScriptsPlan, error) {
	if s.cooldown > 0 {
		if err := s.checkReleaseAge(ctx, f, say); err != nil {
			return install.ScriptsPlan{}, err
		}
	}
	data, err := f.Read(ctx, install.WorkDir+"/"+modulesFile, maxModules)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return install.ScriptsPlan{}, err
	}
	if err == nil {
		var pending struct {
			PendingBuilds []string `json:"pendingBuilds"`
		}
		if json.Unmarshal(data, &s.modules) != nil || json.Unmarshal(data, &pending) != nil {
			return install.ScriptsPlan{}, fmt.Errorf("pnpm's %s after the fetch is not the JSON pnpm 12 writes; the project was left unchanged", modulesFile)
		}
		s.pending = pending.PendingBuilds
	}
	s.rebuild, s.held = s.decide()
	if tarball, err := f.Read(ctx, shimsPath, maxShims); err == nil {
		if s.shims, err = shimRewrites(tarball); err != nil {
			return install.ScriptsPlan{}, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return install.ScriptsPlan{}, err
	}
	if !s.scripts {
		return install.ScriptsPlan{}, nil
	}
	return install.ScriptsPlan{Args: s.rebuild, Skip: len(s.rebuild) == 0, Detail: install.Plural(len(s.rebuild), "package")}, nil
}

// decide splits the pending builds: pnpm rebuild takes names, so a name is
// rebuilt only when the policy lets every pending version of it build.
func (s *session) decide() (rebuild, held []string) {
	byName := map[string][]string{}
	for _, dp := range s.pending {
		name, _ := splitDepPath(dp)
		byName[name] = append(byName[name], dp)
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		ok := s.scripts
		for _, dp := range byName[name] {
			_, version := splitDepPath(dp)
			ok = ok && s.policy.runs(name, version)
		}
		if ok {
			rebuild = append(rebuild, name)
			continue
		}
		held = append(held, byName[name]...)
	}
	return rebuild, held
}

// splitDepPath reads "name@version(peer@1)(other@2)" (pnpm 9 and later).
func splitDepPath(dp string) (name, version string) {
	dp, _, _ = strings.Cut(dp, "(")
	i := strings.Index(dp[min(1, len(dp)):], "@") + 1
	if i <= 0 {
		return dp, ""
	}
	return dp[:i], dp[i+1:]
}

// storePrefix is a depPath's virtual store directory as pnpm names it, up
// to its peers: "@scope+name@1.0.0". pnpm adds "_<peers>" or, for a long
// or mixed-case name, a hash after it.
func storePrefix(dp string) string {
	name, version := splitDepPath(dp)
	return strings.NewReplacer("/", "+", `\`, "+", ":", "+", "*", "+", "?", "+", `"`, "+", "<", "+", ">", "+", "|", "+").Replace(name + "@" + version)
}

func (s *session) Rule(phase string, before tree.Tree) install.Rule {
	built := map[string]bool{}
	var who []string
	for name, e := range before {
		parts := strings.Split(name, "/")
		if e.Kind != tree.Dir || len(parts) < 5 || parts[0] != "node_modules" || parts[1] != ".pnpm" || parts[3] != "node_modules" {
			continue
		}
		pkg := strings.Join(parts[4:], "/")
		if (len(parts) == 6) != strings.HasPrefix(pkg, "@") || !slices.Contains(s.rebuild, pkg) {
			continue
		}
		for _, dp := range s.pending {
			if n, _ := splitDepPath(dp); n == pkg && (parts[2] == storePrefix(dp) || strings.HasPrefix(parts[2], storePrefix(dp)+"_")) {
				built[name] = true
				who = append(who, packageID(name))
			}
		}
	}
	slices.Sort(who)
	s.built = slices.Compact(who)
	isDir := func(n string) bool { return before[n].Kind == tree.Dir }
	shims := map[string]tree.Sum{}
	for name, rw := range s.shims {
		if _, dir := locateIn(s.workspaces, rw.target, isDir); built[dir] {
			shims[name] = rw.sum
		}
	}
	s.rule = newPnpmTree(before, built, shims, s.built)
	s.rule.workspaces = s.workspaces
	return s.rule
}

func (s *session) PhaseDone(ctx context.Context, c install.Files, runs []install.ScriptRun) install.Findings {
	for i, r := range runs {
		// pnpm keeps no record of its own of what ran: a header that names
		// a package the phase rebuilt counts (a script could print one).
		runs[i].Recorded = slices.Contains(s.rebuild, npm.PolicyName(r.Package))
		if !strings.Contains(r.Package[min(1, len(r.Package)):], "@") {
			// pnpm shortens the header's directory, version and all: the
			// version is the pending build's, when it had one only.
			runs[i].Package = s.withVersion(r.Package)
		}
	}
	var found install.Findings
	found.NetworkAttempts = npm.ReadNetLog(ctx, c)
	for _, a := range found.NetworkAttempts {
		if !slices.Contains(s.found.NetworkAttempts, a) {
			s.found.NetworkAttempts = append(s.found.NetworkAttempts, a)
		}
	}
	return found
}

func (s *session) Owner(entry, staging string) string {
	isDir := func(n string) bool {
		fi, err := os.Lstat(filepath.Join(staging, filepath.FromSlash(n)))
		return err == nil && fi.IsDir()
	}
	if _, pkg := locateIn(s.workspaces, entry, isDir); pkg != "" {
		return packageID(pkg)
	}
	return ""
}

func (s *session) Finish(staging string) (install.Findings, error) {
	found := s.found
	if err := s.checkModules(staging); err != nil {
		return found, err
	}
	if err := s.pointAtHostStore(staging); err != nil {
		return found, err
	}
	if len(found.NetworkAttempts) > 0 {
		found.Warnings = append(found.Warnings, npm.NetworkWarning(found.NetworkAttempts))
	}
	if found.HeldBack = s.heldBack(staging); len(found.HeldBack) > 0 {
		found.Warnings = append(found.Warnings, heldBackWarning(found.HeldBack))
	}
	return found, nil
}

func (s *session) Deliver(context.Context, string, install.Say) (bool, any, error) {
	return false, nil, nil
}

// checkModules holds the staged .modules.yaml to the fetch's: pnpm rebuild
// takes what it built off pendingBuilds and changes nothing else, and the
// host's pnpm trusts this file (its storeDir, its hoisting, its builds).
func (s *session) checkModules(staging string) error {
	data, err := readStaged(filepath.Join(staging, filepath.FromSlash(modulesFile)), maxModules)
	if errors.Is(err, fs.ErrNotExist) && s.modules == nil {
		return nil
	}
	refuse := func(reason string) error {
		return &install.ArtifactError{Path: modulesFile, Reason: reason}
	}
	if err != nil {
		return refuse(fmt.Sprintf("unreadable after the scripts phase: %v", err))
	}
	var now map[string]any
	if err := json.Unmarshal(data, &now); err != nil {
		return refuse("pnpm's record of the install is no longer JSON after the scripts phase")
	}
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(now, s.modules))) {
		if k == "pendingBuilds" {
			continue
		}
		if !reflect.DeepEqual(now[k], s.modules[k]) {
			return refuse(fmt.Sprintf("pnpm's record of the install has its %q changed during the scripts phase, which pnpm rebuild does not change (scripts that ran: %s)", k, s.culprits()))
		}
	}
	left, _ := now["pendingBuilds"].([]any)
	for _, p := range left {
		if dp, ok := p.(string); !ok || !slices.Contains(s.pending, dp) {
			return refuse(fmt.Sprintf("pnpm's record of the install lists a pending build the fetch did not (scripts that ran: %s)", s.culprits()))
		}
	}
	return nil
}

// pointAtHostStore names the host's store in the staged .modules.yaml
// (checked, so pnpm's own), instead of the sandbox's: pnpm compares the
// record's storeDir with its own store and, when they differ, removes
// node_modules and installs it again, from the host's store or the
// network, with the builds on the host. The rest is pnpm's record as the
// sandbox's pnpm wrote it; the packages are not in the host's store, and
// a later install that needs them from it fetches them.
func (s *session) pointAtHostStore(staging string) error {
	if s.modules == nil || !filepath.IsAbs(s.hostStore) || filepath.Clean(s.hostStore) != s.hostStore {
		return nil
	}
	file := filepath.Join(staging, filepath.FromSlash(modulesFile))
	data, err := readStaged(file, maxModules)
	if err != nil {
		return fmt.Errorf("reading the staged %s: %w", modulesFile, err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("parsing the staged %s: %w", modulesFile, err)
	}
	m["storeDir"] = s.hostStore
	if data, err = json.MarshalIndent(m, "", "  "); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".modules.yaml.*")
	if err != nil {
		return fmt.Errorf("rewriting the staged %s: %w", modulesFile, err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("rewriting the staged %s: %w", modulesFile, err)
	}
	return nil
}

func mergeKeys(a, b map[string]any) map[string]any {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// readStaged reads a staged file without following a link, bounded.
func readStaged(file string, max int64) ([]byte, error) {
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(data)) > max {
		err = fmt.Errorf("%w: larger than %d bytes", install.ErrLimit, max)
	}
	return data, err
}

func (s *session) culprits() string {
	if s.rule == nil {
		return "no script"
	}
	return s.rule.Culprits()
}

// withVersion is name@version for the one pending build of name (name
// alone when there are none or several).
func (s *session) withVersion(name string) string {
	var versions []string
	for _, dp := range s.pending {
		if n, v := splitDepPath(dp); n == name && !slices.Contains(versions, v) {
			versions = append(versions, v)
		}
	}
	if len(versions) != 1 {
		return name
	}
	return name + "@" + versions[0]
}
