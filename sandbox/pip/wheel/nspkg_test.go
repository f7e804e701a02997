package wheel

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/pip/wheel/wheeltest"
)

// linuxExt is CPython 3.11's importlib.machinery.EXTENSION_SUFFIXES on
// x86-64 Linux.
var linuxExt = []string{".cpython-311-x86_64-linux-gnu.so", ".abi3.so", ".so"}

func nspkgPth(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(nspkgLine(n) + "\n")
	}
	return b.String()
}

func TestExtensionModule(t *testing.T) {
	for rel, want := range map[string]string{
		"nsx.cpython-311-x86_64-linux-gnu.so": "nsx",
		"nsx.abi3.so":                         "nsx",
		"nsx.so":                              "nsx",
		"NSX.SO":                              "nsx",
		"nsx.cpython-312-x86_64-linux-gnu.so": "nsx",
		"nsx.cp311-win_amd64.pyd":             "nsx",
		"nsx/__init__.cpython-311-x86_64-linux-gnu.so": "nsx",
		"google/cloud.abi3.so":                         "google.cloud",
		"google/cloud/__init__.so":                     "google.cloud",
		"nsx.py":                                       "",
		"nsx.pyc":                                      "",
		"nsx/__init__.py":                              "",
		"__init__.so":                                  "",
		"libnsx":                                       "",
	} {
		got, ok := extensionModule(rel, linuxExt)
		if got != want || ok != (want != "") {
			t.Errorf("%s: got %q %v, want %q", rel, got, ok, want)
		}
	}
	if got, ok := extensionModule("nsx.dll", []string{".cpython-311-x86_64-cygwin.dll", ".dll"}); !ok || got != "nsx" {
		t.Errorf("the target's own suffix .dll: got %q %v", got, ok)
	}
	if _, ok := extensionModule("nsx.dll", linuxExt); ok {
		t.Error("nsx.dll is an extension for a Python whose suffixes do not have .dll")
	}
}

// ATK-5: setuptools' namespace .pth template creates its package with
// module_from_spec at every start, which for an extension module is
// dlopen and PyInit. It is refused when the name is an extension module,
// in the same wheel, another wheel of the batch, or on disk, naming both
// distributions; it is accepted for a namespace directory and for what
// module_from_spec does not run (source, bytecode).
func TestCheckNamespacePthCreatesNoExtension(t *testing.T) {
	pth := member{Name: "nsx-nspkg.pth", Body: nspkgPth("nsx")}
	cloud := member{Name: "google.cloud-nspkg.pth", Body: nspkgPth("google", "google.cloud")}
	nsWheel := func(extra ...member) []any {
		return []any{"nsx_dist-1.0-py3-none-any.whl", wheeltest.Basic("nsx_dist", "1.0", extra...)}
	}
	for _, tc := range []struct {
		name   string
		wheels []any
		disk   map[string]string // installed by other==1.0
		loose  string            // a file on disk that no distribution owns
		member string            // refused, "" for accepted
		reason []string
	}{
		{"an extension in the same wheel", nsWheel(pth, member{Name: "nsx.cpython-311-x86_64-linux-gnu.so", Body: "\x7fELF"}), nil, "",
			"nsx-nspkg.pth", []string{"namespace .pth for nsx", "nsx.cpython-311-x86_64-linux-gnu.so", "the same wheel", "PyInit_nsx", "native code"}},
		{"an extension in another wheel", append(nsWheel(pth), "other-2.0-py3-none-any.whl", wheeltest.Basic("other", "2.0", member{Name: "nsx.abi3.so", Body: "\x7fELF"})), nil, "",
			"nsx-nspkg.pth", []string{"nsx.abi3.so", "from other==2.0 in the same install"}},
		{"a package's __init__ extension installed", nsWheel(pth), map[string]string{"nsx/__init__.so": "\x7fELF"}, "",
			"nsx-nspkg.pth", []string{"nsx/__init__.so", "from other==1.0, installed"}},
		{"an extension put there by hand", nsWheel(pth), nil, "nsx.so",
			"nsx-nspkg.pth", []string{"nsx.so", "put there by hand"}},
		{"another Python's tag", nsWheel(pth, member{Name: "nsx.cpython-312-x86_64-linux-gnu.so", Body: "\x7fELF"}), nil, "",
			"nsx-nspkg.pth", []string{"nsx.cpython-312"}},
		{"another case", nsWheel(pth), map[string]string{"NSX.so": "\x7fELF"}, "",
			"nsx-nspkg.pth", []string{"NSX.so", "other==1.0"}},
		{"a dotted name's module", nsWheel(cloud), map[string]string{"google/cloud.abi3.so": "\x7fELF"}, "",
			"google.cloud-nspkg.pth", []string{"namespace .pth for google.cloud", "google/cloud.abi3.so", "PyInit_cloud"}},
		{"a dotted name's parent", nsWheel(cloud, member{Name: "google/__init__.cpython-311-x86_64-linux-gnu.so", Body: "\x7fELF"}), nil, "",
			"google.cloud-nspkg.pth", []string{"namespace .pth for google,", "google/__init__"}},
		{"a namespace directory", nsWheel(pth, member{Name: "nsx/one/__init__.py", Body: ""}), nil, "", "", nil},
		{"a source module (module_from_spec runs none)", nsWheel(pth), map[string]string{"nsx.py": "import os\n"}, "", "", nil},
		{"a package's __init__.py", nsWheel(pth), map[string]string{"nsx/__init__.py": "import os\n"}, "", "", nil},
		{"sourceless bytecode", nsWheel(pth), map[string]string{"nsx.pyc": "\x00pyc"}, "", "", nil},
		{"bytecode in __pycache__", nsWheel(pth), map[string]string{"__pycache__/nsx.cpython-311.pyc": "\x00pyc"}, "", "", nil},
		{"a submodule extension, imported only when asked", nsWheel(pth, member{Name: "nsx/fast.abi3.so", Body: "\x7fELF"}), nil, "", "", nil},
		{"an extension of another name", nsWheel(pth, member{Name: "nsx_speedups.abi3.so", Body: "\x7fELF"}), nil, "", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEnv(t)
			e.Ext = linuxExt
			if tc.disk != nil {
				install(t, e, "other", "1.0", tc.disk)
			}
			if tc.loose != "" {
				must(t, os.WriteFile(filepath.Join(e.Purelib, tc.loose), []byte("\x7fELF"), 0o755))
			}
			err := e.Check(inspected(t, tc.wheels...))
			if tc.member == "" {
				if err != nil {
					t.Fatalf("got %v, want it accepted", err)
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

// ATK-5 the other way round: a namespace .pth is installed already, and
// the batch brings the extension module it would create.
func TestCheckNoExtensionUnderAnInstalledNamespace(t *testing.T) {
	so := member{Name: "nsx.cpython-311-x86_64-linux-gnu.so", Body: "\x7fELF"}
	for _, tc := range []struct {
		name    string
		pth     string // installed by nsdist==1.0 as nsx-nspkg.pth
		wheels  []any
		refused bool
	}{
		{"the template", nspkgPth("nsx"), []any{"evil-1.0-py3-none-any.whl", wheeltest.Basic("evil", "1.0", so)}, true},
		{"the template with CRLF", strings.ReplaceAll(nspkgPth("zope", "nsx"), "\n", "\r\n"), []any{"evil-1.0-py3-none-any.whl", wheeltest.Basic("evil", "1.0", so)}, true},
		{"an upgrade of the .pth's distribution", nspkgPth("nsx"), []any{"nsdist-2.0-py3-none-any.whl", wheeltest.Basic("nsdist", "2.0", so)}, false},
		{"a path line", "nsx\n", []any{"evil-1.0-py3-none-any.whl", wheeltest.Basic("evil", "1.0", so)}, false},
		{"another name", nspkgPth("zope"), []any{"evil-1.0-py3-none-any.whl", wheeltest.Basic("evil", "1.0", so)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEnv(t)
			e.Ext = linuxExt
			install(t, e, "nsdist", "1.0", map[string]string{"nsx-nspkg.pth": tc.pth, "nsdist/__init__.py": ""})
			err := e.Check(inspected(t, tc.wheels...))
			if !tc.refused {
				if err != nil {
					t.Fatalf("got %v, want it accepted", err)
				}
				return
			}
			var re *RefusedError
			if !errors.As(err, &re) || re.Member != so.Name {
				t.Fatalf("got %v, want %s refused", err, so.Name)
			}
			for _, want := range []string{"nsx-nspkg.pth", "nsdist==1.0", "native code"} {
				if !strings.Contains(re.Reason, want) {
					t.Errorf("reason %q, want it to mention %q", re.Reason, want)
				}
			}
		})
	}
}
