//go:build e2e

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// wheelCase is a corpus sdist whose wheel does its harm through what pip
// installs, later, on the host: nothing of it runs at install time, so the
// sandbox alone cannot stop it; the wheel vetting must (issue 15, class 6;
// invariant 7: members are read as Python reads them, whatever
// lands in the scripts directory is a command, nothing overwrites a file
// another distribution owns).
type wheelCase struct {
	id, class string
	reqs      []string // installed in this order; the last one is the attack
	trigger   string   // what the user runs afterwards: a shell line in the virtualenv's directory
	markers   []string // below HOME: what the payload leaves when it runs
	refused   []string // what safe-install's refusal names
}

// test plays the case in two fresh worlds. The positive control installs
// the same sdists with the host's plain pip and shows the harm: after the
// trigger, every marker is there. Then safe-install installs them: the
// last is refused with exit 10, HOME and the virtualenv are as they were,
// and the trigger leaves no marker.
func (c wheelCase) test(t *testing.T) {
	attack := c.reqs[len(c.reqs)-1]
	t.Run("control", func(t *testing.T) {
		t.Parallel()
		corpus(t, corpusCase{"control " + c.id, "plain pip install of " + attack, "none (armed: `" + c.trigger + "` runs the payload)"})
		w := newPipWorld(t)
		for _, r := range c.reqs {
			w.plainPip(r)
		}
		w.trigger(c.trigger)
		for _, m := range c.markers {
			if _, err := os.Stat(filepath.Join(w.home, m)); err != nil {
				t.Errorf("plain pip: no ~/%s after %q: the case is not armed", m, c.trigger)
			}
		}
	})
	t.Run("safe-install", func(t *testing.T) {
		t.Parallel()
		corpus(t, corpusCase{c.id, c.class, "wheel vetting (exit 10)"})
		w := newPipWorld(t)
		for _, r := range c.reqs[:len(c.reqs)-1] {
			w.requirements(r)
			w.succeeds("pip", "install", "-r", "requirements.txt")
		}
		w.requirements(attack)
		frozen, venv := w.freeze(), w.snapshotOf(w.venv)
		w.failsUnchanged([]string{"pip", "install", "-r", "requirements.txt"}, exitArtifact, c.refused...)
		if got := w.freeze(); got != frozen {
			t.Errorf("pip freeze changed:\n%s\nwas:\n%s", got, frozen)
		}
		w.assertSame(venv, w.snapshotOf(w.venv))
		w.trigger(c.trigger)
		for _, m := range c.markers {
			if _, err := os.Stat(filepath.Join(w.home, m)); err == nil {
				t.Errorf("the payload ran after safe-install: ~/%s", m)
			}
		}
	})
}

// plainPip installs a requirement into the world's virtualenv with the
// host's own pip, from the corpus index's directory, as a user without
// safe-install would.
func (w *pipWorld) plainPip(req string) {
	w.t.Helper()
	cmd := exec.Command(w.python, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
		"--no-index", "--find-links", w.index.dir, req)
	cmd.Env = append(append([]string{}, w.env...), "PIP_CONFIG_FILE="+os.DevNull)
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("plain pip install %s: %v\n%s", req, err, out)
	}
}

// trigger runs what a user runs after an install; whether it succeeds is
// not the point, what it leaves behind is.
func (w *pipWorld) trigger(line string) {
	w.t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir, cmd.Env = w.venv, w.env
	out, err := cmd.CombinedOutput()
	w.t.Logf("%s: %v\n%s", line, err, lastLinesOf(string(out), 10))
}

// The import line of a .pth file behind a "\r": Python's universal
// newlines end the path line there, and the import runs at every start.
func TestE2EPipWheelHiddenPthImport(t *testing.T) {
	t.Parallel()
	wheelCase{
		id: "issue15 pth-cr", class: "pip: .pth import line hidden behind \\r",
		reqs: []string{"pth-cr==1.0"}, trigger: "bin/python -c pass", markers: []string{".cache/pth-cr-ran"},
		refused: []string{"pth_cr==1.0", `"pth_cr.pth"`, `line break '\r'`, "do not install this build"},
	}.test(t)
}

// A console script named pip3 behind a "\x1c": pip's importlib.metadata
// splits entry_points.txt with str.splitlines(), so bin/pip3 is replaced.
func TestE2EPipWheelHiddenEntryPoint(t *testing.T) {
	t.Parallel()
	wheelCase{
		id: "issue15 ep-hidden", class: "pip: console script pip3 hidden behind \\x1c",
		reqs: []string{"ep-hidden==1.0"}, trigger: "bin/pip3 --version", markers: []string{".cache/ep-hidden-ran"},
		refused: []string{"ep_hidden==1.0", `"ep_hidden-1.0.dist-info/entry_points.txt"`, `line break '\x1c'`},
	}.test(t)
}

// .data/data/bin/python3.11 and .data/data/bin/activate land in the
// virtualenv's bin and replace its interpreter link and activate script.
func TestE2EPipWheelDataBin(t *testing.T) {
	t.Parallel()
	wheelCase{
		id: "issue15 data-bin", class: "pip: .data/data/bin replaces python3.11 and activate",
		reqs: []string{"data-bin==1.0"}, trigger: "bin/python3.11 -c pass; . bin/activate",
		markers: []string{".cache/data-bin-python-ran", ".cache/data-bin-activate-ran"},
		refused: []string{"data_bin==1.0", `"data_bin-1.0.data/data/bin/python3.11"`, `the command "python3.11"`},
	}.test(t)
}

// A wheel that ships another distribution's module: plain pip overwrites
// wheel_victim/__init__.py, and the next import runs the payload.
func TestE2EPipWheelOverwritesAnotherDistribution(t *testing.T) {
	t.Parallel()
	wheelCase{
		id: "issue15 overwrite-other", class: "pip: a wheel overwrites another distribution's module",
		reqs: []string{"wheel-victim==1.0", "overwrite-other==1.0"}, trigger: "bin/python -c 'import wheel_victim'",
		markers: []string{".cache/overwrite-other-ran"},
		refused: []string{"overwrite_other==1.0", `"wheel_victim/__init__.py"`, "wheel_victim==1.0 installed", "uninstall wheel_victim==1.0 first"},
	}.test(t)
}

// A wheel that ships setuptools' _distutils_hack, which setuptools'
// allow-listed distutils-precedence.pth imports at every Python start: the
// venv's own setuptools is the victim.
func TestE2EPipWheelHijacksWhatAnAllowedPthImports(t *testing.T) {
	t.Parallel()
	wheelCase{
		id: "issue15 distutils-hijack", class: "pip: overwrites the module an allow-listed .pth imports",
		reqs: []string{"distutils-hijack==1.0"}, trigger: "bin/python -c pass", markers: []string{".cache/distutils-hijack-ran"},
		refused: []string{"distutils_hijack==1.0", `"_distutils_hack/__init__.py"`, "which setuptools=="},
	}.test(t)
}
