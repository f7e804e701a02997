package wheel

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// member is one file of a test wheel; mode 0 means a plain 0644 file.
type member struct {
	name, body string
	mode       fs.FileMode
	unlisted   bool   // left out of RECORD
	record     string // RECORD row to write instead of the right one
}

// makeWheel writes demo-1.0 with the given members and a RECORD that lists
// them, as a build backend would.
func makeWheel(t *testing.T, file string, members ...member) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), file)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	var record strings.Builder
	for _, m := range members {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate}
		mode := m.mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(m.body)); err != nil {
			t.Fatal(err)
		}
		switch {
		case m.record != "":
			record.WriteString(m.record + "\n")
		case !m.unlisted && !strings.HasSuffix(m.name, "/"):
			sum := sha256.Sum256([]byte(m.body))
			fmt.Fprintf(&record, "%s,sha256=%s,%d\n", m.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(m.body))
		}
	}
	record.WriteString("demo-1.0.dist-info/RECORD,,\n")
	w, err := zw.Create("demo-1.0.dist-info/RECORD")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

var basic = []member{
	{name: "demo/__init__.py", body: "x = 1\n"},
	{name: "demo-1.0.dist-info/METADATA", body: "Name: demo\nVersion: 1.0\n"},
	{name: "demo-1.0.dist-info/WHEEL", body: "Wheel-Version: 1.0\n"},
}

func with(extra ...member) []member { return append(append([]member{}, basic...), extra...) }

func TestInspectAcceptsAPlainWheel(t *testing.T) {
	w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(
		member{name: "demo-1.0.dist-info/entry_points.txt", body: "[console_scripts]\ndemo = demo:main\n\n[demo.plugins]\nx = y\n"},
		member{name: "demo-1.0.data/scripts/demo-tool", body: "#!python\n", mode: 0o755},
		member{name: "demo.pth", body: "/opt/demo/lib\n"},
	)...), DefaultLimits)
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
		w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{name: tc.member, body: tc.body})...), DefaultLimits)
		if err != nil {
			t.Fatalf("%s: %v", tc.member, err)
		}
		if len(w.Pth) != 1 || !w.Pth[0].Executable || w.Pth[0].Known != "" {
			t.Errorf("%s: pth %+v, want one unknown executable", tc.member, w.Pth)
		}
	}
}

func TestInspectKnowsSetuptoolsPth(t *testing.T) {
	body := "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n"
	w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{name: "distutils-precedence.pth", body: body})...), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Pth) != 1 || !w.Pth[0].Executable || w.Pth[0].Known == "" {
		t.Errorf("pth %+v, want a known executable one", w.Pth)
	}
	// One more byte and it is no longer the known file.
	w, err = Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{name: "distutils-precedence.pth", body: body + "import evil\n"})...), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if w.Pth[0].Known != "" {
		t.Errorf("an altered distutils-precedence.pth passed as known")
	}
}

func TestInspectRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		m      member
		reason string
	}{
		{"parent", member{name: "../../../.bashrc", body: "x"}, ".."},
		{"absolute", member{name: "/etc/x", body: "x"}, "absolute"},
		{"data parent", member{name: "demo-1.0.data/purelib/../../../../x", body: "x"}, ".."},
		{"headers parent", member{name: "demo-1.0.data/headers/../../x", body: "x"}, ".."},
		{"backslash", member{name: "demo\\..\\x", body: "x"}, "backslash"},
		{"symlink", member{name: "demo/link", body: "/etc/passwd", mode: fs.ModeSymlink | 0o777}, "symbolic link"},
		{"setuid", member{name: "demo/su", body: "x", mode: fs.ModeSetuid | 0o755}, "setuid"},
		{"scripts pip", member{name: "demo-1.0.data/scripts/pip", body: "#!python\n", mode: 0o755}, "shadows python or pip"},
		{"scripts python3", member{name: "demo-1.0.data/scripts/python3", body: "#!python\n", mode: 0o755}, "shadows python or pip"},
		{"entry point pip3.11", member{name: "demo-1.0.dist-info/entry_points.txt", body: "[console_scripts]\npip3.11 = demo:main\n"}, "shadows python or pip"},
		{"sitecustomize", member{name: "sitecustomize.py", body: "import os\n"}, "sitecustomize"},
		{"usercustomize package", member{name: "demo-1.0.data/purelib/usercustomize/__init__.py", body: ""}, "usercustomize"},
		{"sitecustomize extension", member{name: "sitecustomize.cpython-311-x86_64-linux-gnu.so", body: "\x7fELF"}, "sitecustomize"},
		{"unknown scheme", member{name: "demo-1.0.data/home/x", body: "x"}, "unknown install scheme"},
		{"second dist-info", member{name: "other-2.0.dist-info/METADATA", body: "x"}, ".dist-info directory other"},
		{"unlisted", member{name: "demo/hidden.py", body: "x", unlisted: true}, "not listed in RECORD"},
		{"wrong hash", member{name: "demo/x.py", body: "x", record: "demo/x.py,sha256=AAAA,1"}, "sha256 differs"},
		{"wrong size", member{name: "demo/x.py", body: "x", record: "demo/x.py,sha256=AAAA,2"}, "size differs"},
		{"no hash", member{name: "demo/x.py", body: "x", record: "demo/x.py,,1"}, "no sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(tc.m)...), DefaultLimits)
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
		member{name: "demo/", body: "", record: "demo/ghost.py,sha256=AAAA,1"})...), DefaultLimits)
	if err == nil || !strings.Contains(err.Error(), "not in the archive") {
		t.Fatalf("got %v", err)
	}
}

func TestInspectBounds(t *testing.T) {
	p := makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{name: "demo/big.bin", body: strings.Repeat("x", 4096)})...)
	if _, err := Inspect(p, Limits{MaxEntries: 100, MaxBytes: 1024}); err == nil || !strings.Contains(err.Error(), "unpacks to more than") {
		t.Errorf("size bound: got %v", err)
	}
	if _, err := Inspect(p, Limits{MaxEntries: 2, MaxBytes: 1 << 20}); err == nil || !strings.Contains(err.Error(), "more than 2 members") {
		t.Errorf("entry bound: got %v", err)
	}
	if _, err := Inspect(makeWheel(t, "not-a-wheel.zip", basic...), DefaultLimits); err == nil {
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
		w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{name: "demo-1.0-py3.11-nspkg.pth", body: body})...), DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Pth[0].Known != ""; got != known {
			t.Errorf("known = %v (%q), want %v for\n%s", got, w.Pth[0].Known, known, body)
		}
	}
}
