package pip

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/pip/wheel"
	"github.com/safe-install/safe-install/sandbox/pip/wheel/wheeltest"
)

type member = wheeltest.Member

// venvLayout is a virtual environment's layout in a temporary directory:
// venv's python link and activate, and victim 1.0 installed by pip.
func venvLayout(t *testing.T) wheel.Env {
	t.Helper()
	root := t.TempDir()
	e := wheel.Env{Purelib: filepath.Join(root, "lib", "python3.11", "site-packages"), Scripts: filepath.Join(root, "bin"), Data: root}
	e.Platlib = e.Purelib
	for _, d := range []string{e.Purelib, e.Scripts} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/usr/bin/python3.11", filepath.Join(e.Scripts, "python3.11")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Scripts, "activate"), []byte("# venv\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wheeltest.Install(t, e.Purelib, "victim", "1.0", map[string]string{
		"victim/__init__.py": "from victim.core import *\n", "victim/core.py": "CORE = 1\n",
	})
	return e
}

// demoWheel writes demo-1.0 with extra members into a fresh wheel directory.
func demoWheel(t *testing.T, extra ...member) string {
	t.Helper()
	dir := t.TempDir()
	wheeltest.Write(t, dir, "demo-1.0-py3-none-any.whl", wheeltest.Basic("demo", "1.0", extra...)...)
	return dir
}

// Issue 15, class 6: every way a wheel hides an import line, a command or
// an overwrite is an ArtifactError (exit 10) naming the wheel as
// name==version, the member, the rule, and what to do.
func TestPipVetRefusesHiddenAndShadowingWheels(t *testing.T) {
	setuptoolsPth := "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n"
	for _, tc := range []struct {
		name   string
		m      member
		reason []string
	}{
		{".pth \\r", member{Name: "demo.pth", Body: "/opt/demo\rimport os\n"}, []string{`line break '\r'`, "do not install this build"}},
		{".pth \\v", member{Name: "demo.pth", Body: "/opt/demo\vimport os\n"}, []string{`line break '\v'`}},
		{".pth \\f", member{Name: "demo.pth", Body: "/opt/demo\fimport os\n"}, []string{`line break '\f'`}},
		{".pth \\x1c", member{Name: "demo.pth", Body: "/opt/demo\x1cimport os\n"}, []string{`line break '\x1c'`}},
		{".pth \\x85", member{Name: "demo.pth", Body: "/opt/demo\u0085import os\n"}, []string{`line break '\u0085'`}},
		{".pth U+2028", member{Name: "demo.pth", Body: "/opt/demo\u2028import os\n"}, []string{`line break '\u2028'`}},
		{".pth \\r\\n import", member{Name: "demo.pth", Body: "/opt/demo\r\nimport os\r\n"}, []string{"line 2 starts with import", "--allow-pth demo"}},
		{"entry points \\r", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[x]\r[console_scripts]\rpip3 = demo:main\n"}, []string{`line break '\r'`}},
		{"entry points \\r\\n", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\r\npip3 = demo:main\r\n"}, []string{`the command "pip3"`}},
		{"entry points \\v", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[x]\v[console_scripts]\vpip3 = demo:main\n"}, []string{`line break '\v'`}},
		{"entry points \\f", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[x]\f[console_scripts]\fpip3 = demo:main\n"}, []string{`line break '\f'`}},
		{"entry points \\x1c", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[x]\x1c[console_scripts]\x1cpip3 = demo:main\n"}, []string{`line break '\x1c'`}},
		{"entry points \\x85", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[x]\u0085[console_scripts]\u0085pip3 = demo:main\n"}, []string{`line break '\u0085'`}},
		{"entry points U+2028", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[x]\u2028[console_scripts]\u2028pip3 = demo:main\n"}, []string{`line break '\u2028'`}},
		{".data/data/bin/python3.11", member{Name: "demo-1.0.data/data/bin/python3.11", Body: "#!/bin/sh\n", Mode: 0o755}, []string{`the command "python3.11"`}},
		{".data/data/bin/activate", member{Name: "demo-1.0.data/data/bin/activate", Body: "evil\n"}, []string{`the command "activate"`}},
		{".data/scripts/pip3", member{Name: "demo-1.0.data/scripts/pip3", Body: "#!/bin/sh\n", Mode: 0o755}, []string{`the command "pip3"`}},
		{"another distribution's module", member{Name: "victim/core.py", Body: "import os\n"}, []string{"victim==1.0 installed", "uninstall victim==1.0 first"}},
		{"another distribution's module by .data/data", member{Name: "demo-1.0.data/data/lib/python3.11/site-packages/victim/core.py", Body: "x"}, []string{"victim==1.0 installed"}},
		{"shadowing another distribution's module", member{Name: "victim/core.cpython-311-x86_64-linux-gnu.so", Body: "\x7fELF"}, []string{"import name victim.core", "victim==1.0"}},
		{"a new command beside activate", member{Name: "demo-1.0.data/data/bin/activate2", Body: "x"}, nil},
		{"setuptools' .pth from demo", member{Name: "distutils-precedence.pth", Body: setuptoolsPth}, []string{"setuptools's distutils-precedence.pth, but demo ships it", "--allow-pth demo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pi := &pipInstall{python: HostPython{Env: venvLayout(t)}}
			_, _, err := pi.vet(demoWheel(t, tc.m))
			if tc.reason == nil {
				if err != nil {
					t.Fatalf("got %v, want it accepted", err)
				}
				return
			}
			var ae *install.ArtifactError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an ArtifactError", err)
			}
			if ae.Package != "demo==1.0" || ae.Path != tc.m.Name {
				t.Errorf("refused %s %q, want demo==1.0 %q", ae.Package, ae.Path, tc.m.Name)
			}
			for _, want := range tc.reason {
				if !strings.Contains(ae.Reason, want) {
					t.Errorf("reason %q, want it to mention %q", ae.Reason, want)
				}
			}
		})
	}
}

// ATK-5: setuptools' namespace .pth for demo passes without --allow-pth
// while demo is source (module_from_spec runs none of it), and is an
// ArtifactError (exit 10) once demo is also an extension module, which
// the line would load at every Python start.
func TestPipVetRefusesANamespacePthOverAnExtension(t *testing.T) {
	pth := member{Name: "demo-nspkg.pth", Body: "import sys, types, os;has_mfs = sys.version_info > (3, 5);p = os.path.join(sys._getframe(1).f_locals['sitedir'], *('demo',));importlib = has_mfs and __import__('importlib.util');has_mfs and __import__('importlib.machinery');m = has_mfs and sys.modules.setdefault('demo', importlib.util.module_from_spec(importlib.machinery.PathFinder.find_spec('demo', [os.path.dirname(p)])));m = m or sys.modules.setdefault('demo', types.ModuleType('demo'));mp = (m or []) and m.__dict__.setdefault('__path__',[]);(p not in mp) and mp.append(p)\n"}
	pi := &pipInstall{python: HostPython{Env: venvLayout(t)}}
	if _, _, err := pi.vet(demoWheel(t, pth)); err != nil {
		t.Fatalf("a namespace .pth over source: %v", err)
	}
	_, _, err := pi.vet(demoWheel(t, pth, member{Name: "demo/__init__.cpython-311-x86_64-linux-gnu.so", Body: "\x7fELF"}))
	var ae *install.ArtifactError
	if !errors.As(err, &ae) || ae.Package != "demo==1.0" || ae.Path != pth.Name || !strings.Contains(ae.Reason, "native code") {
		t.Fatalf("got %v, want demo==1.0's %s refused", err, pth.Name)
	}
}

func TestPipVetChecksTheSchemeItInstallsInto(t *testing.T) {
	user := venvLayout(t)
	victim := member{Name: "victim/core.py", Body: "import os\n"}
	pi := &pipInstall{python: HostPython{Env: venvLayout(t), UserEnv: user}, hostFlags: []string{"--user"}}
	if _, _, err := pi.vet(demoWheel(t, victim)); err == nil || !strings.Contains(err.Error(), user.Purelib) {
		t.Errorf("--user: got %v, want the user scheme's victim", err)
	}
	pi = &pipInstall{python: HostPython{Env: venvLayout(t)}, allowPth: []string{"setuptools"}}
	dir := t.TempDir()
	wheeltest.Write(t, dir, "setuptools-66.1.1-py3-none-any.whl", wheeltest.Basic("setuptools", "66.1.1",
		member{Name: "distutils-precedence.pth", Body: "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n"},
		member{Name: "_distutils_hack/__init__.py", Body: "def add_shim(): pass\n"})...)
	ws, files, err := pi.vet(dir)
	if err != nil || len(ws) != 1 || len(files) != 1 || ws[0].Pth[0].Known == "" {
		t.Errorf("setuptools: %v, %+v", err, ws)
	}
}

// hostPython learns a virtual environment's scheme without running its
// .pth files: -S, and site.venv()'s part done by hand.
func TestHostPythonKnowsTheVenvWithoutRunningIt(t *testing.T) {
	python3, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	venv := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command(python3, "-m", "venv", "--without-pip", venv).CombinedOutput(); err != nil {
		t.Fatalf("python3 -m venv: %v\n%s", err, out)
	}
	hp, err := hostPython(filepath.Join(venv, "bin", "python"))
	if err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(venv, "lib", "python"+hp.Version, "site-packages")
	marker := filepath.Join(t.TempDir(), "pth-ran")
	if err := os.WriteFile(filepath.Join(site, "probe.pth"), []byte("import os; open("+pyQuote(marker)+", 'w')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if hp, err = hostPython(filepath.Join(venv, "bin", "python")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("asking the host's Python ran the environment's .pth files")
	}
	want := wheel.Env{Purelib: site, Platlib: site, Scripts: filepath.Join(venv, "bin"), Data: venv}
	got := hp.Env
	got.Lib = nil
	if got.Purelib != want.Purelib || got.Platlib != want.Platlib || got.Scripts != want.Scripts || got.Data != want.Data {
		t.Errorf("env %+v, want %+v", got, want)
	}
	if len(hp.Env.Lib) == 0 || len(hp.Env.Ext) == 0 || hp.UserEnv.Purelib == "" || hp.Tag == "" {
		t.Errorf("python %+v", hp)
	}
}

func pyQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }
