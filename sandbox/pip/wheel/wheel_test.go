package wheel

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/pip/wheel/wheeltest"
)

type member = wheeltest.Member

// makeWheel writes a wheel with the given members and a RECORD that lists
// them, as a build backend would.
func makeWheel(t *testing.T, file string, members ...member) string {
	t.Helper()
	return wheeltest.Write(t, t.TempDir(), file, members...)
}

var basic = []member{
	{Name: "demo/__init__.py", Body: "x = 1\n"},
	{Name: "demo-1.0.dist-info/METADATA", Body: "Name: demo\nVersion: 1.0\n"},
	{Name: "demo-1.0.dist-info/WHEEL", Body: "Wheel-Version: 1.0\n"},
}

func with(extra ...member) []member { return append(append([]member{}, basic...), extra...) }

func TestInspectAcceptsAPlainWheel(t *testing.T) {
	w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(
		member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\ndemo = demo:main\n\n[demo.plugins]\nx = y\n"},
		member{Name: "demo-1.0.data/scripts/demo-tool", Body: "#!python\n", Mode: 0o755},
		member{Name: "demo.pth", Body: "/opt/demo/lib\n"},
	)...), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "demo" || w.Version != "1.0" {
		t.Errorf("name %q version %q", w.Name, w.Version)
	}
	if got := strings.Join(w.Scripts, ","); got != "demo,demo-tool" {
		t.Errorf("scripts %q, want demo,demo-tool", got)
	}
	if len(w.Pth) != 1 || w.Pth[0].Executable || w.Pth[0].Member != "demo.pth" {
		t.Errorf("pth %+v, want one path-only demo.pth", w.Pth)
	}
}

func TestInspectFindsExecutablePth(t *testing.T) {
	for _, tc := range []struct{ member, body string }{
		{"evil_init.pth", "import os,sys;exec('print(1)')\n"},
		{"evil_init.pth", "/some/path\nimport\tos\n"},
		{"demo-1.0.data/purelib/evil.pth", "import os\n"},
		{"demo-1.0.data/platlib/evil.pth", "import os\n"},
		{"demo-1.0.data/data/lib/python3.11/site-packages/evil.pth", "import os\n"},
	} {
		w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{Name: tc.member, Body: tc.body})...), DefaultLimits())
		if err != nil {
			t.Fatalf("%s: %v", tc.member, err)
		}
		if len(w.Pth) != 1 || !w.Pth[0].Executable || w.Pth[0].Known != "" {
			t.Errorf("%s: pth %+v, want one unknown executable", tc.member, w.Pth)
		}
	}
}

// B10 and item 4 of issue 15: setuptools' distutils-precedence.pth is known
// only as setuptools' own file; the same bytes from another distribution,
// or under another name, or with one more byte, are an unknown import line.
func TestInspectKnowsSetuptoolsPthOnlyFromSetuptools(t *testing.T) {
	body := "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n"
	setuptools := func(extra ...member) []member { return wheeltest.Basic("setuptools", "66.1.1", extra...) }
	for _, tc := range []struct {
		name, file string
		members    []member
		known      bool
		why        string
	}{
		{"setuptools", "setuptools-66.1.1-py3-none-any.whl", setuptools(member{Name: "distutils-precedence.pth", Body: body}), true, ""},
		{"another distribution", "demo-1.0-py3-none-any.whl", with(member{Name: "distutils-precedence.pth", Body: body}), false, "setuptools's distutils-precedence.pth, but demo ships it"},
		{"another distribution, another name", "demo-1.0-py3-none-any.whl", with(member{Name: "demo-hack.pth", Body: body}), false, "but demo ships it"},
		{"setuptools, another name", "setuptools-66.1.1-py3-none-any.whl", setuptools(member{Name: "zzz.pth", Body: body}), false, "setuptools's distutils-precedence.pth"},
		{"one byte more", "setuptools-66.1.1-py3-none-any.whl", setuptools(member{Name: "distutils-precedence.pth", Body: body + "import evil\n"}), false, "line 1 starts with import"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Inspect(makeWheel(t, tc.file, tc.members...), DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Pth) != 1 || !w.Pth[0].Executable || (w.Pth[0].Known != "") != tc.known {
				t.Fatalf("pth %+v, want executable and known=%v", w.Pth, tc.known)
			}
			if !strings.Contains(w.Pth[0].Why, tc.why) {
				t.Errorf("why %q, want it to mention %q", w.Pth[0].Why, tc.why)
			}
		})
	}
}

func TestInspectRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		m      member
		reason string
	}{
		{"parent", member{Name: "../../../.bashrc", Body: "x"}, ".."},
		{"absolute", member{Name: "/etc/x", Body: "x"}, "absolute"},
		{"data parent", member{Name: "demo-1.0.data/purelib/../../../../x", Body: "x"}, ".."},
		{"headers parent", member{Name: "demo-1.0.data/headers/../../x", Body: "x"}, ".."},
		{"backslash", member{Name: "demo\\..\\x", Body: "x"}, "backslash"},
		{"symlink", member{Name: "demo/link", Body: "/etc/passwd", Mode: fs.ModeSymlink | 0o777}, "symbolic link"},
		{"setuid", member{Name: "demo/su", Body: "x", Mode: fs.ModeSetuid | 0o755}, "setuid"},
		{"scripts pip", member{Name: "demo-1.0.data/scripts/pip", Body: "#!python\n", Mode: 0o755}, "take the place of Python"},
		{"scripts python3", member{Name: "demo-1.0.data/scripts/python3", Body: "#!python\n", Mode: 0o755}, "take the place of Python"},
		{"entry point pip3.11", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\npip3.11 = demo:main\n"}, "take the place of Python"},
		{"sitecustomize", member{Name: "sitecustomize.py", Body: "import os\n"}, "sitecustomize"},
		{"usercustomize package", member{Name: "demo-1.0.data/purelib/usercustomize/__init__.py", Body: ""}, "usercustomize"},
		{"sitecustomize extension", member{Name: "sitecustomize.cpython-311-x86_64-linux-gnu.so", Body: "\x7fELF"}, "sitecustomize"},
		{"unknown scheme", member{Name: "demo-1.0.data/home/x", Body: "x"}, "unknown install scheme"},
		{"second dist-info", member{Name: "other-2.0.dist-info/METADATA", Body: "x"}, ".dist-info directory other"},
		{"unlisted", member{Name: "demo/hidden.py", Body: "x", Unlisted: true}, "not listed in RECORD"},
		{"wrong hash", member{Name: "demo/x.py", Body: "x", Record: "demo/x.py,sha256=AAAA,1"}, "sha256 differs"},
		{"wrong size", member{Name: "demo/x.py", Body: "x", Record: "demo/x.py,sha256=AAAA,2"}, "size differs"},
		{"no hash", member{Name: "demo/x.py", Body: "x", Record: "demo/x.py,,1"}, "no sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(tc.m)...), DefaultLimits())
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a refusal", err)
			}
			if !strings.Contains(re.Reason, tc.reason) {
				t.Errorf("reason %q, want it to mention %q", re.Reason, tc.reason)
			}
			if re.Wheel != "demo-1.0-py3-none-any.whl" {
				t.Errorf("wheel %q", re.Wheel)
			}
		})
	}
}

func TestInspectRefusesListedButMissing(t *testing.T) {
	_, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(
		member{Name: "demo/", Body: "", Record: "demo/ghost.py,sha256=AAAA,1"})...), DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), "not in the archive") {
		t.Fatalf("got %v", err)
	}
}

func TestInspectBounds(t *testing.T) {
	p := makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{Name: "demo/big.bin", Body: strings.Repeat("x", 4096)})...)
	if _, err := Inspect(p, Limits{MaxEntries: 100, MaxBytes: 1024}); err == nil || !strings.Contains(err.Error(), "unpacks to more than") {
		t.Errorf("size bound: got %v", err)
	}
	if _, err := Inspect(p, Limits{MaxEntries: 2, MaxBytes: 1 << 20}); err == nil || !strings.Contains(err.Error(), "more than 2 members") {
		t.Errorf("entry bound: got %v", err)
	}
	if _, err := Inspect(makeWheel(t, "not-a-wheel.zip", basic...), DefaultLimits()); err == nil {
		t.Error("a file that is not named like a wheel was accepted")
	}
}

// B10: setuptools' *-nspkg.pth for namespace packages is recognised line by
// line; these lines are what setuptools 66.1.1 generated (namespaces.py,
// _gen_nspkg_line) for zope and google.cloud. Anything added or changed is
// unknown again.
func TestInspectKnowsNamespacePth(t *testing.T) {
	zope := "import sys, types, os;has_mfs = sys.version_info > (3, 5);p = os.path.join(sys._getframe(1).f_locals['sitedir'], *('zope',));importlib = has_mfs and __import__('importlib.util');has_mfs and __import__('importlib.machinery');m = has_mfs and sys.modules.setdefault('zope', importlib.util.module_from_spec(importlib.machinery.PathFinder.find_spec('zope', [os.path.dirname(p)])));m = m or sys.modules.setdefault('zope', types.ModuleType('zope'));mp = (m or []) and m.__dict__.setdefault('__path__',[]);(p not in mp) and mp.append(p)\n"
	cloud := "import sys, types, os;has_mfs = sys.version_info > (3, 5);p = os.path.join(sys._getframe(1).f_locals['sitedir'], *('google', 'cloud'));importlib = has_mfs and __import__('importlib.util');has_mfs and __import__('importlib.machinery');m = has_mfs and sys.modules.setdefault('google.cloud', importlib.util.module_from_spec(importlib.machinery.PathFinder.find_spec('google.cloud', [os.path.dirname(p)])));m = m or sys.modules.setdefault('google.cloud', types.ModuleType('google.cloud'));mp = (m or []) and m.__dict__.setdefault('__path__',[]);(p not in mp) and mp.append(p);m and setattr(sys.modules['google'], 'cloud', m)\n"
	for body, known := range map[string]bool{
		zope:                   true,
		zope + cloud:           true,
		zope + "import evil\n": false,
		strings.Replace(cloud, "mp.append(p)", "mp.append(p);__import__('evil')", 1): false,
		strings.Replace(zope, "'zope'", "'zope', __import__('evil')", 1):             false,
	} {
		w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{Name: "demo-1.0-py3.11-nspkg.pth", Body: body})...), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Pth[0].Known != ""; got != known {
			t.Errorf("known = %v (%q), want %v for\n%s", got, w.Pth[0].Known, known, body)
		}
	}
}
