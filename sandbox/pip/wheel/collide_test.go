package wheel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/pip/wheel/wheeltest"
)

// testEnv is a virtual environment's layout in a temporary directory, with
// the python links and activate script that venv makes, and a standard
// library directory of its own (as a pyenv Python has below its prefix).
func testEnv(t *testing.T) Env {
	t.Helper()
	root := t.TempDir()
	e := Env{
		Purelib: filepath.Join(root, "lib", "python3.11", "site-packages"),
		Scripts: filepath.Join(root, "bin"),
		Data:    root,
		Lib:     []string{filepath.Join(root, "stdlib", "python3.11")},
	}
	e.Platlib = e.Purelib
	for _, d := range append([]string{e.Purelib, e.Scripts}, e.Lib...) {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, os.Symlink("/usr/bin/python3.11", filepath.Join(e.Scripts, "python3.11")))
	must(t, os.WriteFile(filepath.Join(e.Scripts, "activate"), []byte("# venv\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "pyvenv.cfg"), []byte("home = /usr/bin\n"), 0o644))
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func install(t *testing.T, e Env, name, version string, files map[string]string) {
	t.Helper()
	wheeltest.Install(t, e.Purelib, name, version, files)
}

// inspected vets wheels written from (file, members) pairs.
func inspected(t *testing.T, wheels ...any) []*Wheel {
	t.Helper()
	var ws []*Wheel
	for i := 0; i < len(wheels); i += 2 {
		w, err := Inspect(makeWheel(t, wheels[i].(string), wheels[i+1].([]member)...), DefaultLimits())
		must(t, err)
		ws = append(ws, w)
	}
	return ws
}

var victim = map[string]string{
	"victim/__init__.py":                          "def hello(): pass\n",
	"victim/__pycache__/__init__.cpython-311.pyc": "\x00pyc",
	"victim/core.py":                              "CORE = 1\n",
	"../../../bin/victim-tool":                    "#!python\n",
}

// Issue 15: a wheel may not overwrite or shadow a file that another
// distribution owns, nor one that the environment has and nobody owns;
// the refusal names both distributions.
func TestCheckRefusesCollisions(t *testing.T) {
	demo := func(extra ...member) []member { return with(extra...) }
	for _, tc := range []struct {
		name   string
		wheels []any
		member string
		reason []string
	}{
		{"overwrite a module", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "victim/core.py", Body: "import os\n"})},
			"victim/core.py", []string{"would overwrite", "victim/core.py", "victim==1.0 installed", "uninstall victim==1.0 first"}},
		{"overwrite a command", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "demo-1.0.data/scripts/victim-tool", Body: "#!/bin/sh\n"})},
			"demo-1.0.data/scripts/victim-tool", []string{"would overwrite", "bin/victim-tool", "victim==1.0"}},
		{"overwrite a command by an entry point", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\nvictim-tool = demo:main\n"})},
			"demo-1.0.dist-info/entry_points.txt", []string{"bin/victim-tool", "victim==1.0"}},
		{"overwrite a command through .data/data/bin", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "demo-1.0.data/data/bin/victim-tool", Body: "#!/bin/sh\n"})},
			"demo-1.0.data/data/bin/victim-tool", []string{"bin/victim-tool", "victim==1.0"}},
		{"overwrite through .data/data/lib/.../site-packages", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "demo-1.0.data/data/lib/python3.11/site-packages/victim/core.py", Body: "x"})},
			"demo-1.0.data/data/lib/python3.11/site-packages/victim/core.py", []string{"victim==1.0"}},
		{"shadow a package with an extension", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "victim/__init__.cpython-311-x86_64-linux-gnu.so", Body: "\x7fELF"})},
			"victim/__init__.cpython-311-x86_64-linux-gnu.so", []string{"import name victim.__init__", "victim==1.0"}},
		{"shadow a module with bytecode", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "victim/__pycache__/core.cpython-311.pyc", Body: "\x00pyc"})},
			"victim/__pycache__/core.cpython-311.pyc", []string{"import name victim.core", "victim==1.0"}},
		{"shadow a package with a module", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "victim.py", Body: "x"})},
			"victim.py", []string{"import name victim", "victim==1.0"}},
		{"new commands beside the interpreter's links", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "demo-1.0.data/data/bin/python3.11-demo", Body: "x"}, member{Name: "demo-1.0.data/data/bin/victim-tool2", Body: "x"})},
			"", nil},
		{"the same path in the batch", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "shared/x.py", Body: "a"}), "other-2.0-py3-none-any.whl", wheeltest.Basic("other", "2.0", member{Name: "shared/x.py", Body: "b"})},
			"shared/x.py", []string{"demo==1.0 in the same install"}},
		{"the same module in the batch", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "shared.py", Body: "a"}), "other-2.0-py3-none-any.whl", wheeltest.Basic("other", "2.0", member{Name: "shared/__init__.py", Body: "b"})},
			"shared/__init__.py", []string{"demo==1.0 in the same install"}},
		{"a nested sitecustomize beside a .pth path line", []any{"demo-1.0-py3-none-any.whl", demo(member{Name: "demo_hook/sitecustomize.py", Body: "import os\n"}), "other-2.0-py3-none-any.whl", wheeltest.Basic("other", "2.0", member{Name: "other.pth", Body: "demo_hook\n"})},
			"demo_hook/sitecustomize.py", []string{"other==2.0's other.pth adds directories to sys.path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEnv(t)
			install(t, e, "victim", "1.0", victim)
			err := e.Check(inspected(t, tc.wheels...))
			if tc.reason == nil {
				if err != nil {
					t.Fatalf("got %v, want no refusal", err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a refusal", err)
			}
			if re.Member != tc.member {
				t.Errorf("member %q, want %q (%s)", re.Member, tc.member, re.Reason)
			}
			for _, want := range tc.reason {
				if !strings.Contains(re.Reason, want) {
					t.Errorf("reason %q, want it to mention %q", re.Reason, want)
				}
			}
		})
	}
}

// Check applies the rules by place, whatever Inspect made of a member's
// name: what lands in bin is a command; a file that the environment has
// and no distribution owns (venv's python links, activate, pyvenv.cfg, a
// hand-made command) is not replaced.
func TestCheckRulesByPlace(t *testing.T) {
	for _, tc := range []struct{ member, target, reason string }{
		{"demo-1.0.data/data/bin/python3.11", "bin/python3.11", "take the place of"},
		{"demo-1.0.data/data/bin/activate", "bin/activate", "take the place of"},
		{"demo-1.0.data/data/pyvenv.cfg", "pyvenv.cfg", "no installed distribution owns"},
		{"demo-1.0.data/data/bin/handmade", "bin/handmade", "no installed distribution owns"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			e := testEnv(t)
			must(t, os.WriteFile(filepath.Join(e.Scripts, "handmade"), []byte("#!/bin/sh\n"), 0o755))
			// Inspect refuses most of these by name already; add the
			// file behind its back to see Check's rule.
			w := inspected(t, "demo-1.0-py3-none-any.whl", with(member{Name: "demo-1.0.data/data/share/x", Body: "x"}))[0]
			w.files = append(w.files, file{member: tc.member, scheme: "data", rel: tc.target, digest: wheeltest.Digest("evil")})
			err := e.Check([]*Wheel{w})
			var re *RefusedError
			if !errors.As(err, &re) || re.Member != tc.member || !strings.Contains(re.Reason, tc.reason) {
				t.Fatalf("got %v, want %s refused: %s", err, tc.member, tc.reason)
			}
		})
	}
}

func TestCheckRefusesTheStandardLibrary(t *testing.T) {
	e := testEnv(t)
	e.Lib = append(e.Lib, filepath.Join(e.Data, "share", "pylib"))
	err := e.Check(inspected(t, "demo-1.0-py3-none-any.whl", with(member{Name: "demo-1.0.data/data/share/pylib/json/__init__.py", Body: "x"})))
	if err == nil || !strings.Contains(err.Error(), "the interpreter's own library directory") {
		t.Errorf("got %v", err)
	}
}

// What is not a collision: an upgrade of the same distribution (by
// normalized name), the same bytes at the same path (a pkgutil namespace's
// __init__.py), other modules in a shared namespace, data files.
func TestCheckAcceptsWhatIsNoCollision(t *testing.T) {
	e := testEnv(t)
	install(t, e, "victim", "1.0", victim)
	ns := "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
	install(t, e, "ns_one", "1.0", map[string]string{"nsp/__init__.py": ns, "nsp/one/__init__.py": ""})
	ws := inspected(t,
		"Victim-2.0-py3-none-any.whl", wheeltest.Basic("Victim", "2.0",
			member{Name: "victim/core.py", Body: "CORE = 2\n"},
			member{Name: "victim/__init__.cpython-311-x86_64-linux-gnu.so", Body: "\x7fELF"},
			member{Name: "Victim-2.0.data/scripts/victim-tool", Body: "#!python\n"}),
		"ns_two-1.0-py3-none-any.whl", wheeltest.Basic("ns_two", "1.0",
			member{Name: "nsp/__init__.py", Body: ns},
			member{Name: "nsp/two/__init__.py", Body: ""}),
		"ns_three-1.0-py3-none-any.whl", wheeltest.Basic("ns_three", "1.0",
			member{Name: "nsp/__init__.py", Body: ns},
			member{Name: "nsp/three/__init__.py", Body: ""}),
	)
	if err := e.Check(ws); err != nil {
		t.Fatal(err)
	}
}

// An egg-info's installed-files.txt owns files as RECORD does, relative to
// the egg-info directory.
func TestCheckReadsEggInfo(t *testing.T) {
	e := testEnv(t)
	egg := filepath.Join(e.Purelib, "old_dist-0.9-py3.11.egg-info")
	must(t, os.MkdirAll(filepath.Join(e.Purelib, "old_dist"), 0o755))
	must(t, os.WriteFile(filepath.Join(e.Purelib, "old_dist", "__init__.py"), []byte("x\n"), 0o644))
	must(t, os.MkdirAll(egg, 0o755))
	must(t, os.WriteFile(filepath.Join(egg, "installed-files.txt"), []byte("../old_dist/__init__.py\nPKG-INFO\n"), 0o644))
	err := e.Check(inspected(t, "demo-1.0-py3-none-any.whl", with(member{Name: "old_dist/__init__.py", Body: "evil\n"})))
	if err == nil || !strings.Contains(err.Error(), "old_dist==0.9 installed (its installed-files.txt lists it)") {
		t.Errorf("got %v", err)
	}
}

// setuptools' own .pth imports _distutils_hack at every start: a wheel that
// overwrites that module is refused, naming setuptools.
func TestCheckProtectsWhatAKnownPthImports(t *testing.T) {
	e := testEnv(t)
	install(t, e, "setuptools", "66.1.1", map[string]string{
		"_distutils_hack/__init__.py": "def add_shim(): pass\n",
		"distutils-precedence.pth":    "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n",
	})
	err := e.Check(inspected(t, "demo-1.0-py3-none-any.whl", with(member{Name: "_distutils_hack/__init__.py", Body: "import os\ndef add_shim(): pass\n"})))
	var re *RefusedError
	if !errors.As(err, &re) || re.Member != "_distutils_hack/__init__.py" || !strings.Contains(re.Reason, "setuptools==66.1.1") {
		t.Fatalf("got %v", err)
	}
}

func TestCheckNeedsTheScheme(t *testing.T) {
	if err := (Env{}).Check(nil); err == nil {
		t.Error("an empty Env checked nothing and said nothing")
	}
}

// Whatever lands in the scripts directory is a command, by whatever path:
// with a scheme whose scripts directory is not <data>/bin, Check adds it
// to the wheel's Scripts and knows its member, for the command rules.
func TestCheckListsEveryCommand(t *testing.T) {
	e := testEnv(t)
	e.Scripts = filepath.Join(e.Data, "tools")
	must(t, os.MkdirAll(e.Scripts, 0o755))
	w := inspected(t, "demo-1.0-py3-none-any.whl", with(member{Name: "demo-1.0.data/data/tools/git", Body: "#!/bin/sh\n"}))[0]
	if len(w.Scripts) != 0 {
		t.Fatalf("Inspect took %v for commands", w.Scripts)
	}
	must(t, e.Check([]*Wheel{w}))
	if len(w.Scripts) != 1 || w.Scripts[0] != "git" || w.CommandMember("git") != "demo-1.0.data/data/tools/git" {
		t.Errorf("scripts %v, member %q", w.Scripts, w.CommandMember("git"))
	}
}
