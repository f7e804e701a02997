//go:build e2e

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Attacks on the copy-back rule as it landed (helper/attack). Each case
// first shows under plain npm that the package really gets its code into
// what runs on the host (the positive control), then asks safe-install to
// refuse it. A case that FAILS here is an attack that works: safe-install
// exits 0 and the host's node_modules carries the attacker's code.

// refuses runs safe-install and expects a refusal (exit 10) with the host
// unchanged; when safe-install succeeds instead, it says so plainly and
// shows what the host now runs.
func (w *world) refuses(args []string, probe, planted string, wants ...string) result {
	w.t.Helper()
	before := w.snapshot()
	r := w.run(args...)
	if r.code == 0 {
		got := w.nodeIn(w.proj, "console.log("+probe+")")
		if got == planted {
			w.t.Errorf("ATTACK WORKS: safe-install exited 0 and on the host %s = %q", probe, got)
		} else {
			w.t.Errorf("safe-install exited 0 (the host's %s = %q)", probe, got)
		}
		return r
	}
	w.expect(r, exitArtifact, wants...)
	w.assertSame(before, w.snapshot())
	return r
}

// A1: the trusted listing between the dependencies' scripts and the
// project's own scripts writes its hashes to /work/.safe-install-scripts.sums,
// a path in the work volume the dependencies' scripts could write first.
// forge-sums injects into victim, then leaves there a read-only file with
// the pre-injection hashes: the hash container runs as the same user with
// no capabilities, so its `> file` fails, and ListScript ignores a failed
// sums redirect (exit 0). The mid-check reads the forged hashes (victim
// unchanged), they become the baseline of the project's phase, and in that
// phase any change inside any package is the project's: the injection
// comes back.
func TestE2EAttackForgedSumsBetweenPhases(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"ATK-1 forge-sums", "npm: a dependency forges the mid-phase hash listing, then the project phase launders its injection", "SHOULD: copy-back rule before the project phase (exit 10)"})
	w := newWorld(t)
	w.project("victim", "forge-sums")
	w.rootScripts(map[string]string{"postinstall": "node -e \"console.log('project postinstall')\""})
	plain := w.plainCopy()
	if got := w.nodeIn(plain, "console.log(require('victim').planted)"); got != "by forge-sums" {
		t.Fatalf("plain npm: victim.planted = %q: the case is not armed", got)
	}
	w.refuses([]string{"npm", "install"}, "require('victim').planted", "by forge-sums", "node_modules/victim/index.js")
}

// A2: the dependencies' scripts may write anything in the work directory
// outside node_modules, which no check looks at, and the project's own
// scripts then run there. npmrc-plant writes /work/.npmrc with
// node-options=--require its own hook (the project has no .npmrc, so
// nothing overwrites it); `npm run postinstall` in the project phase hands
// that to the project's node as NODE_OPTIONS, the hook injects into victim
// as the project, and the project phase's rule accepts it. (The project's
// own .npmrc, script-shell, patches/ for patch-package, .git/config for
// husky's git, are all the same hole.)
func TestE2EAttackNpmrcPlantedForProjectScripts(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"ATK-2 npmrc-plant", "npm: a dependency writes the project's .npmrc in the sandbox; the project's scripts run its hook", "SHOULD: the work directory outside node_modules is as copied in (exit 10)"})
	w := newWorld(t)
	w.project("victim", "npmrc-plant")
	w.rootScripts(map[string]string{"postinstall": "node -e \"console.log('project postinstall')\""})
	// The control: plain npm writes the host project's .npmrc, and the next
	// npm command there (the project's own postinstall, run again) runs the
	// hook.
	plain := w.plainCopy()
	if rc, _ := os.ReadFile(filepath.Join(plain, ".npmrc")); !strings.Contains(string(rc), "node-options") {
		t.Fatalf("plain npm: no .npmrc planted: the case is not armed")
	}
	w.plainInNetns(plain, "npm run postinstall")
	if got := w.nodeIn(plain, "console.log(require('victim').planted)"); got != "by npmrc-plant" {
		t.Fatalf("plain npm: victim.planted = %q: the case is not armed", got)
	}
	w.refuses([]string{"npm", "install"}, "require('victim').planted", "by npmrc-plant", "npmrc")
}

// A3: the same output file as a FIFO: the hash container's `> file` blocks
// until a reader comes, which never happens, and nothing bounds that
// container's run (phase() and its --timeout are not used for it), so
// safe-install waits forever (invariant 6: wall time is bounded).
func TestE2EAttackFIFOHangsTheHashContainer(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"ATK-3 fifo-hang", "npm: the mid-phase listing's output is a FIFO: the hash container blocks forever", "SHOULD: wall-time limit (exit 12) or a refusal"})
	w := newWorld(t)
	w.project("fifo-hang")
	w.rootScripts(map[string]string{"postinstall": "node -e \"console.log('project postinstall')\""})
	plain := w.plainCopy()
	if fi, err := os.Lstat(filepath.Join(plain, ".safe-install-scripts.list")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("plain npm: no FIFO was made (%v): the case is not armed", err)
	}
	before := w.snapshot()
	cmd := exec.Command(binary, "npm", "--timeout", "30s", "install")
	cmd.Dir, cmd.Env = w.proj, w.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Logf("safe-install ended: %v\n%s", err, out.String())
		if err == nil {
			t.Error("safe-install exited 0")
		}
	case <-time.After(3 * time.Minute):
		// Ctrl-C, so that it removes its containers and volumes.
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			<-done
		}
		t.Errorf("ATTACK WORKS: safe-install with --timeout 30s was still running after 3 minutes (interrupted)\n%s", out.String())
	}
	w.assertSame(before, w.snapshot())
}

// A5: a .pth that is exactly setuptools' namespace-package template is
// "known" and needs no --allow-pth, but the template is code:
// importlib.util.module_from_spec(PathFinder.find_spec(name, [sitedir]))
// creates the module from whatever site-packages holds under that name,
// and for a compiled extension (nspkg_so.cpython-311-x86_64-linux-gnu.so)
// creating it is dlopen and PyInit: native code at every Python start.
func TestE2EAttackPipNamespacePthLoadsAnExtension(t *testing.T) {
	t.Parallel()
	wheelCase{
		id: "ATK-5 nspkg-so", class: "pip: setuptools' nspkg.pth template creates an extension module at every start",
		reqs: []string{"nspkg-so==1.0"}, trigger: "bin/python -c pass", markers: []string{".cache/nspkg-so-ran"},
		refused: []string{"nspkg_so==1.0", "nspkg_so-nspkg.pth"},
	}.test(t)
}

// A6: a bin two packages declare: npm links the benign one's at the fetch,
// and the other's postinstall re-points the link at its own file. The rule
// accepts any target a claimant declares, and the warning says only that
// "npm links one of them".
func TestE2EAttackContestedBinRepointed(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"ATK-6 zbin-contest", "npm: a postinstall re-points a bin another package also declares", "SHOULD: a .bin link the fetch made stays as it was (exit 10)"})
	w := newWorld(t)
	w.project("has-bin", "zbin-contest")
	// What npm itself links, with no script: the benign package's.
	fetched := w.copyProject()
	w.plainInNetns(fetched, "npm install --offline --no-audit --no-fund --ignore-scripts")
	target, _ := os.Readlink(filepath.Join(fetched, "node_modules", ".bin", "has-bin"))
	t.Logf("npm --ignore-scripts links .bin/has-bin -> %s", target)
	if strings.Contains(target, "zbin-contest") {
		t.Fatal("npm itself links zbin-contest's file: no script is needed, so the case is not armed")
	}
	plain := w.plainCopy()
	out, _ := exec.Command(filepath.Join(plain, "node_modules", ".bin", "has-bin")).CombinedOutput()
	if !strings.Contains(string(out), "evil from zbin-contest") {
		t.Fatalf("plain npm: .bin/has-bin said %q: the case is not armed", out)
	}
	before := w.snapshot()
	r := w.run("npm", "install")
	if r.code == 0 {
		out, _ := exec.Command(filepath.Join(w.proj, "node_modules", ".bin", "has-bin")).CombinedOutput()
		if strings.Contains(string(out), "evil from zbin-contest") {
			t.Errorf("ATTACK WORKS: safe-install exited 0 and the host's .bin/has-bin runs zbin-contest's file")
		} else {
			t.Errorf("safe-install exited 0; .bin/has-bin said %q", out)
		}
		return
	}
	w.expect(r, exitArtifact, "node_modules/.bin/has-bin")
	w.assertSame(before, w.snapshot())
}

// A7: when the fetched lockfile cannot say which packages have install
// scripts (a v1 lockfile, which npm ci keeps as it is; npm install
// --no-package-lock, which writes none), ranScripts falls back to the
// packages npm announced in the scripts phase's output, which a script
// forges: tamper prints "> victim@1.0.0 postinstall", victim's own
// directory becomes writable, and its injection into victim comes back.
// (npm's hidden lockfile, node_modules/.package-lock.json, is v3 and says
// hasInstallScript in both cases.)
func TestE2EAttackForgedHeaderWithoutLockfile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		variant string
		args    []string
		v1      bool
	}{
		{"v1-lockfile", []string{"npm", "ci"}, true},
		{"no-package-lock", []string{"npm", "install", "--no-package-lock"}, false},
	}
	for _, c := range cases {
		t.Run(c.variant, func(t *testing.T) {
			t.Parallel()
			corpus(t, corpusCase{"ATK-7 forged-header/" + c.variant, "npm: a forged npm header names the victim as a script package when the lockfile cannot say (" + c.variant + ")", "SHOULD: script packages from npm's own records, never the output (exit 10)"})
			w := newWorld(t)
			w.project("victim", "tamper")
			if c.v1 {
				lock := `{"name": "proj", "version": "1.0.0", "lockfileVersion": 1, "requires": true, "dependencies": {
  "tamper": {"version": "file:vendor/tamper-1.0.0.tgz"},
  "victim": {"version": "file:vendor/victim-1.0.0.tgz"}}}
`
				must(t, os.WriteFile(filepath.Join(w.proj, "package-lock.json"), []byte(lock), 0o644))
			}
			plain := w.copyProject()
			w.plainInNetns(plain, strings.Join(c.args, " ")+" --offline --no-audit --no-fund")
			if got := w.nodeIn(plain, "console.log(require('victim/extra.js'))"); got != "planted" {
				t.Fatalf("plain npm: victim/extra.js gave %q: the case is not armed", got)
			}
			w.refuses(c.args, "require('victim/extra.js')", "planted", "node_modules/victim/")
		})
	}
}

// A8: a wheel's console script named git: an activated virtual environment
// puts its scripts directory first on PATH, so the user's next `git` runs
// the package. Python's, pip's and activate's names are refused; this one
// is a note ("installs commands: git") that --quiet drops, where npm at
// least warns about a .bin that shadows git. The test asks for a refusal
// or a warning that names the command; safe-install now refuses it (exit
// 10) unless --allow-command git, which installs it with a warning.
func TestE2EAttackPipCommandShadowsGit(t *testing.T) {
	t.Parallel()
	trigger := "PATH=$PWD/bin:$PATH git --version"
	t.Run("control", func(t *testing.T) {
		t.Parallel()
		corpus(t, corpusCase{"control ATK-8 cmd-shadow", "plain pip install of cmd-shadow==1.0", "none (armed: `git` in the activated venv runs the payload)"})
		w := newPipWorld(t)
		w.plainPip("cmd-shadow==1.0")
		w.trigger(trigger)
		if _, err := os.Stat(filepath.Join(w.home, ".cache/cmd-shadow-ran")); err != nil {
			t.Errorf("plain pip: no marker after %q: the case is not armed", trigger)
		}
	})
	t.Run("safe-install", func(t *testing.T) {
		t.Parallel()
		corpus(t, corpusCase{"ATK-8 cmd-shadow", "pip: a console script named git shadows the user's git in an activated venv", "SHOULD: refused, or a warning naming it (as npm's shadowed bins)"})
		w := newPipWorld(t)
		w.requirements("cmd-shadow==1.0")
		r := w.run("pip", "--quiet", "install", "-r", "requirements.txt")
		if r.code == exitArtifact {
			w.expect(r, exitArtifact, "cmd_shadow==1.0", `the command "git"`, "--allow-command git")
			w.trigger(trigger)
			if _, err := os.Stat(filepath.Join(w.home, ".cache/cmd-shadow-ran")); err == nil {
				t.Error("the payload ran after the refusal")
			}
			return
		}
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		if !strings.Contains(r.stderr, "WARN") || !strings.Contains(r.stderr, "git") {
			w.trigger(trigger)
			_, err := os.Stat(filepath.Join(w.home, ".cache/cmd-shadow-ran"))
			t.Errorf("ATTACK WORKS: exit 0 with no warning about the command git (payload ran on the host's next git: %v)", err == nil)
		}
	})
	// The way out for a package meant to provide the name: --allow-command
	// installs it, and says so in a warning that --quiet still shows.
	t.Run("allowed", func(t *testing.T) {
		t.Parallel()
		w := newPipWorld(t)
		w.requirements("cmd-shadow==1.0")
		r := w.run("pip", "--quiet", "--allow-command", "git", "install", "-r", "requirements.txt")
		w.expect(r, 0, "WARN cmd_shadow==1.0 installs the command git", "allowed: --allow-command git")
	})
}

// ATK-9: a wheel's console script named nsenter. A local engine's copy-in
// runs nsenter on the host (sandbox/engine/nsextract.go); looked up on
// PATH, it was the one an activated virtual environment puts first: this
// package's, on the user's next run, on the host, as the user, outside
// every sandbox (it then runs the real one, so nothing shows). The first
// run installs it (a name like any other, a warning at most); the next,
// in the activated environment, must not run it. Control: `nsenter` in
// the activated environment runs the payload.
func TestE2EAttackNsenterOnPathRunsOnTheHost(t *testing.T) {
	t.Parallel()
	if testEngine != "" {
		skipOrFail(t, "a remote engine's copy-in runs no nsenter")
	}
	corpus(t, corpusCase{"ATK-9 nsenter-shadow", "pip: a console script named nsenter, which a local engine's copy-in ran from PATH on the host", "the copy-in runs the system's nsenter, never PATH's"})
	w := newPipWorld(t)
	w.requirements("nsenter-shadow==1.0")
	w.succeeds("pip", "install", "-r", "requirements.txt")
	marker := filepath.Join(w.venv, "nsenter-shadow-ran")
	w.trigger("PATH=$PWD/bin:$PATH nsenter --version")
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("control: no marker after nsenter in the activated environment: the case is not armed")
	}
	must(t, os.Remove(marker))
	w.env = append(w.env, "PATH="+filepath.Join(w.venv, "bin")+":"+os.Getenv("PATH")) // activated: the last PATH counts
	w.succeeds("pip", "install", "-r", "requirements.txt")
	if b, err := os.ReadFile(marker); err == nil {
		t.Errorf("ATTACK WORKS: the next run ran the package's nsenter on the host: %q", b)
	}
}
