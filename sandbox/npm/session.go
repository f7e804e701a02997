package npm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/incremental"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// npmSession is npm's part in a run: the lockfile as the fetch left it
// decides which packages' scripts run (and so the copy-back rule), the
// release-age cooldown reads it, and what the scripts leave is told.
type npmSession struct {
	lockfile   string // the lockfile's name: package-lock.json or npm-shrinkwrap.json
	policy     scriptPolicy
	scripts    bool // the plan has a scripts phase
	registries []egress.Registry
	cooldown   time.Duration // --min-release-age
	// treeLock (npm rebuild): the installed tree's own record,
	// node_modules/.package-lock.json as copied in, says who has install
	// scripts, where they sit in that tree; only, when set, keeps the
	// packages named (name or name@version).
	treeLock bool
	only     []string
	// incr, when set, starts from the host's tree (package incremental).
	incr *incremental.Install
	// prefilled holds the host's unchanged tree as incr.Prefill mirrors
	// it, while the fetch runs; waitPrefill waits for it.
	prefilled   string
	waitPrefill func() error

	lock layout.Lockfile // as the fetch left it
	dirs map[string]bool // the package directories whose scripts run
	// who names them, for messages.
	who  []string
	rule *npmTree // the last phase's rule
	// found accumulates over the phases.
	found install.Findings
	hooks []string // git hook installers' notes
}

// timingsDir is where npm leaves its record of how long each package's
// script ran (--timing: "build:run:EVENT:LOCATION" in milliseconds).
const timingsDir = install.DecoyHome + "/.npm/_logs"

func (s *npmSession) Fetched(ctx context.Context, f install.Files, say install.Say) (install.ScriptsPlan, error) {
	if s.incr == nil {
		return s.fetched(ctx, f, say)
	}
	// npm's record of the tree it changed in place, before any
	// third-party code ran, against the host's: what changed comes back.
	var now layout.Lockfile
	data, err := f.Read(ctx, install.WorkDir+"/node_modules/.package-lock.json", layout.MaxLockfile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return install.ScriptsPlan{}, err
	}
	if err == nil && json.Unmarshal(data, &now) != nil {
		return install.ScriptsPlan{}, fmt.Errorf("%w: npm's node_modules/.package-lock.json in the sandbox does not parse", install.ErrPolicy)
	}
	if err := s.incr.Diff(now); err != nil {
		return install.ScriptsPlan{}, err
	}
	say.Note("incremental: %s added or changed, %s removed; the rest of node_modules stays as installed",
		install.Plural(len(s.incr.Changed), "package"), install.Plural(len(s.incr.Removed), "package"))
	sp, err := s.fetched(ctx, f, say)
	if s.incr.Whole {
		return sp, err
	}
	sp.Only, sp.Except = s.incr.Roots(), s.incr.Nested
	if !sp.Skip {
		sp.Inputs = s.incr.Late()
	}
	return sp, err
}

// fetched is Fetched's reading of the fetched lockfile.
func (s *npmSession) fetched(ctx context.Context, f install.Files, say install.Say) (install.ScriptsPlan, error) {
	if s.treeLock {
		if err := s.readHiddenLockfile(ctx, f); err != nil {
			return install.ScriptsPlan{}, err
		}
	}
	staged := ""
	if s.lock.Version < 2 {
		var err error
		if staged, err = f.Stage(ctx, s.lockfile); err != nil {
			return install.ScriptsPlan{}, err
		}
		if staged != "" {
			if s.lock, err = readLockfile(staged); err != nil {
				return install.ScriptsPlan{}, err
			}
		}
	}
	if s.lock.Version < 2 {
		// A lockfile from before npm 7 (or none: --no-package-lock) does
		// not say who has install scripts; npm's hidden lockfile in the
		// fetched node_modules does (always version 3). Never the
		// scripts' output, which a script can forge.
		if err := s.readHiddenLockfile(ctx, f); err != nil {
			return install.ScriptsPlan{}, err
		}
	}
	if err := s.checkReleaseAge(ctx, staged, say); err != nil {
		return install.ScriptsPlan{}, err
	}
	dirs, ok := scriptDirs(s.lock, s.policy)
	if len(s.only) > 0 {
		maps.DeleteFunc(dirs, func(d string, _ bool) bool { return !s.named(d) })
	}
	if s.incr != nil {
		// The unchanged packages' scripts ran when they were installed.
		s.incr.KeepChanged(dirs)
	}
	s.dirs = dirs
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		s.who = append(s.who, layout.PackageOf(d+"/x")+"@"+s.lock.Packages[d].Version)
	}
	s.who = slices.Compact(s.who)
	if !s.scripts {
		return install.ScriptsPlan{}, nil
	}
	if !ok {
		return install.ScriptsPlan{}, fmt.Errorf("%w: neither the lockfile nor npm's hidden node_modules/.package-lock.json says which packages have install scripts "+
			"(a lockfile from before npm 7, or --no-package-lock): run `npm install --package-lock-only` with npm 7 or later to upgrade the lockfile, "+
			"drop --no-package-lock, or pass --ignore-scripts", install.ErrPolicy)
	}
	return install.ScriptsPlan{Args: s.rebuildTargets(), Skip: len(dirs) == 0, Detail: install.Plural(len(dirs), "package")}, nil
}

// readHiddenLockfile reads npm's record of the tree in the fetched (or,
// for npm rebuild, copied-in) node_modules, before any third-party code
// ran; none leaves the lockfile as it was.
func (s *npmSession) readHiddenLockfile(ctx context.Context, f install.Files) error {
	data, err := f.Read(ctx, install.WorkDir+"/node_modules/.package-lock.json", layout.MaxLockfile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_ = json.Unmarshal(data, &s.lock)
	return nil
}

// named says whether the package at dir is one of those npm rebuild was
// given: by name (an alias's real name too), or name@version.
func (s *npmSession) named(dir string) bool {
	pkg := s.lock.Packages[dir]
	for _, spec := range s.only {
		name, version := splitSpec(spec)
		if (name == layout.PackageOf(dir+"/x") || name == pkg.Name) && (version == "" || version == pkg.Version) {
			return true
		}
	}
	return false
}

// splitSpec splits name@version (@scope/name@version).
func splitSpec(spec string) (name, version string) {
	if at := strings.LastIndex(spec, "@"); at > 0 {
		return spec[:at], spec[at+1:]
	}
	return spec, ""
}

// checkReleaseAge applies the cooldown to the lockfile as the fetch left
// it, before any third-party code runs.
func (s *npmSession) checkReleaseAge(ctx context.Context, lockfile string, say install.Say) error {
	if s.cooldown <= 0 {
		return nil
	}
	if lockfile == "" {
		return fmt.Errorf("%w: --min-release-age needs the lockfile, and this install writes none", install.ErrPolicy)
	}
	say.Note("checking publication times (--min-release-age %s)", shortDuration(s.cooldown))
	return ReleaseAge{Min: s.cooldown}.Check(ctx, lockfile, s.registries)
}

// rebuildTargets are the packages the scripts phase rebuilds, as
// name@version: exactly those the copy-back rule then treats as having run
// (npm rebuild with names also leaves the project's own install scripts
// out: they run in their own phase).
func (s *npmSession) rebuildTargets() []string {
	var specs []string
	for d := range s.dirs {
		pkg := s.lock.Packages[d]
		name := pkg.Name // an alias's real name, which npm rebuild matches
		if name == "" {
			name = layout.PackageOf(d + "/x")
		}
		specs = append(specs, name+"@"+pkg.Version)
	}
	slices.Sort(specs)
	return slices.Compact(specs)
}

func (s *npmSession) Rule(phase string, before tree.Tree) install.Rule {
	if phase == "project" {
		// Whatever the project's scripts changed inside a package is the
		// project's doing, in any package; the rest of the rule holds as
		// for the dependencies' scripts.
		earlier := s.rule
		s.rule = newNPMTree(before, func(string) bool { return true }, []string{"the project's own scripts"}, lockBins(s.lock))
		if earlier != nil {
			s.rule.earlier = earlier.changed
		}
	} else {
		s.rule = newNPMTree(before, func(dir string) bool { return s.dirs[dir] }, s.who, lockBins(s.lock))
	}
	if s.incr != nil && !s.incr.Whole {
		s.rule.except = s.incr.Nested // the host's, not back from the sandbox
	}
	return s.rule
}

func (s *npmSession) PhaseDone(ctx context.Context, c install.Files, runs []install.ScriptRun) install.Findings {
	s.scriptTimes(ctx, c, runs)
	data, err := c.Read(ctx, NetLog, maxNetLog)
	var found install.Findings
	if err == nil {
		found.NetworkAttempts = parseNetLog(strings.NewReader(string(data)))
	}
	for _, a := range found.NetworkAttempts {
		if !slices.Contains(s.found.NetworkAttempts, a) {
			s.found.NetworkAttempts = append(s.found.NetworkAttempts, a)
		}
	}
	s.hooks = append(s.hooks, gitHookNotes(runs)...)
	return found
}

// scriptTimes fills in how long each script ran from npm's own record and
// marks the runs the record has: the summary counts those, not the headers
// a script can print. Nothing is decided on it (a script could rewrite the
// file), and a missing record leaves no duration.
func (s *npmSession) scriptTimes(ctx context.Context, c install.Files, runs []install.ScriptRun) {
	if len(runs) == 0 {
		return
	}
	var timers map[string]float64
	_ = c.Walk(ctx, timingsDir, 4<<20, func(name string, data []byte) error {
		if !strings.HasSuffix(name, "-timing.json") {
			return nil
		}
		var doc struct {
			Timers map[string]float64 `json:"timers"`
		}
		if json.Unmarshal(data, &doc) == nil {
			timers = doc.Timers // names sort by time: the last is this run's
		}
		return nil
	})
	for i, r := range runs {
		for key, ms := range timers {
			rest, ok := strings.CutPrefix(key, "build:run:"+r.Event+":")
			if ok && layout.PackageOf(rest+"/package.json") == PolicyName(r.Package) {
				runs[i].DurationMS, runs[i].Recorded = int64(ms), true
			}
		}
	}
}

func (s *npmSession) Owner(entry, staging string) string {
	name := layout.PackageOf(entry)
	if name == "" {
		return ""
	}
	if v := stagedVersion(path.Join(staging, layout.PackageDir(entry))); v != "" {
		return name + "@" + v
	}
	return name
}

func (s *npmSession) Finish(staging string) (install.Findings, error) {
	found := s.found
	found.Warnings = append(found.Warnings, s.hooks...)
	if len(found.NetworkAttempts) > 0 {
		found.Warnings = append(found.Warnings, networkWarning(found.NetworkAttempts))
	}
	found.Warnings = append(found.Warnings, lockBins(s.lock).warnings()...)
	lock := s.lock
	if s.incr != nil {
		// The installed packages' scripts were decided when they came.
		lock = s.incr.Only(lock)
		if !s.incr.Whole && len(s.dirs) > 0 {
			found.Warnings = append(found.Warnings, fmt.Sprintf("an incremental install brings back the changed packages' own directories: what the install scripts of %s wrote outside them (a generated client like Prisma's node_modules/.prisma) stayed in the sandbox; if a package needs that, rebuild the tree whole: rm -rf node_modules, then safe-install npm install",
				strings.Join(s.who, ", ")))
		}
	}
	if found.HeldBack = heldBack(lock, s.policy, staging); len(found.HeldBack) > 0 {
		found.Warnings = append(found.Warnings, heldBackWarning(found.HeldBack))
	}
	if linked := linkedScripts(s.lock); len(linked) > 0 {
		found.Warnings = append(found.Warnings, fmt.Sprintf("linked packages with install scripts, which do not run in the sandbox (their directories are the project's own, and only node_modules comes back): %s; build them on the host if you trust them",
			strings.Join(linked, ", ")))
	}
	return found, nil
}

// Prefill mirrors the host's tree for an incremental run (unless the
// whole tree comes back).
func (s *npmSession) Prefill(ctx context.Context, dir string) func() error {
	if s.incr == nil || s.incr.Whole {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- s.incr.Prefill(ctx, dir) }()
	s.prefilled = dir
	s.waitPrefill = sync.OnceValue(func() error { return <-done })
	return s.waitPrefill
}

// Deliver leaves the swap to the pipeline; an incremental run first
// builds the unchanged part of the staged tree from the host's mirror
// (unless the whole tree came back: what the project's scripts removed
// stays so).
func (s *npmSession) Deliver(ctx context.Context, staging string, say install.Say) (bool, any, error) {
	if s.incr != nil && !s.incr.Whole {
		if s.waitPrefill == nil {
			// No one started the mirror while the fetch ran: now.
			dir, err := os.MkdirTemp(filepath.Dir(staging), "host-")
			if err != nil {
				return false, nil, err
			}
			s.Prefill(ctx, dir)
		}
		if err := s.waitPrefill(); err != nil {
			return false, nil, err
		}
		n, err := s.incr.Adopt(s.prefilled, staging)
		if err != nil {
			return false, nil, err
		}
		// The mirror was made while the fetch ran: of the tree the trust
		// check saw only if nothing replaced or changed it since.
		if err := s.incr.Unchanged(); err != nil {
			return false, nil, err
		}
		say.Note("kept %s of the installed tree unchanged (hard links)", install.Plural(n, "file"))
	}
	return false, nil, incremental.DateRecord(staging)
}

// readLockfile reads the staged lockfile; one that is not npm's JSON
// describes nothing.
func readLockfile(file string) (layout.Lockfile, error) {
	var l layout.Lockfile
	f, err := os.Open(file)
	if err != nil {
		return l, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, layout.MaxLockfile+1))
	if err != nil {
		return l, fmt.Errorf("reading the lockfile: %w", err)
	}
	if len(data) > layout.MaxLockfile {
		return l, fmt.Errorf("%w: the lockfile is larger than %d bytes", install.ErrLimit, layout.MaxLockfile)
	}
	_ = json.Unmarshal(data, &l)
	return l, nil
}
