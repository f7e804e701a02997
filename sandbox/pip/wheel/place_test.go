package wheel

import (
	"errors"
	"strings"
	"testing"
)

// Issue 15: whatever lands in the scripts directory is a command, by any
// path (.data/scripts, .data/data/bin, an entry point), and none takes the
// place of python, pip or activate. Other tools' names that merely start
// alike are commands like any other.
func TestCommandsThatShadowAreRefused(t *testing.T) {
	for _, name := range []string{"python", "python3", "python3.11", "pythonw", "python3.13t", "python3-config",
		"pip", "pip3", "pip3.11", "PIP3", "activate", "activate.fish", "activate.csh", "Activate.ps1", "activate_this.py", "deactivate"} {
		for _, at := range []string{"demo-1.0.data/scripts/", "demo-1.0.data/data/bin/", "demo-1.0.data/data/Scripts/", "demo-1.0.data/scripts/sub/"} {
			t.Run(at+name, func(t *testing.T) {
				_, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{Name: at + name, Body: "#!/bin/sh\n", Mode: 0o755})...), DefaultLimits())
				var re *RefusedError
				if !errors.As(err, &re) || re.Member != at+name || !strings.Contains(re.Reason, "take the place of Python, pip or a virtual environment's activate script") {
					t.Fatalf("got %v, want %s refused", err, at+name)
				}
			})
		}
	}
	var ok []member
	for _, name := range []string{"pipx", "pipenv", "pip-compile", "pip-audit", "pipdeptree", "python-argcomplete-check-easy-install-script", "pydoc-demo", "activator"} {
		ok = append(ok, member{Name: "demo-1.0.data/data/bin/" + name, Body: "#!/bin/sh\n", Mode: 0o755})
	}
	w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(ok...)...), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Scripts) != len(ok) {
		t.Errorf("scripts %v, want all %d", w.Scripts, len(ok))
	}
}

// .data/data/<path> lands at <prefix>/<path>: the standard library's
// directory and pyvenv.cfg are refused, site-packages gets the rules of
// site-packages, other data passes.
func TestDataLandsBelowThePrefix(t *testing.T) {
	for _, tc := range []struct{ member, reason string }{
		{"demo-1.0.data/data/lib/python3.11/os.py", "standard library"},
		{"demo-1.0.data/data/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so", "standard library"},
		{"demo-1.0.data/data/lib64/python3.11/site.py", "standard library"},
		{"demo-1.0.data/data/lib/python3.11/foo/site-packages/x.py", "standard library"},
		{"demo-1.0.data/data/lib/pypy3.10/os.py", "standard library"},
		{"demo-1.0.data/data/pyvenv.cfg", "pyvenv.cfg"},
		{"demo-1.0.data/data/lib/python3.11/site-packages/sitecustomize.py", "sitecustomize"},
		{"demo-1.0.data/data/lib/python3/dist-packages/usercustomize/__init__.py", "usercustomize"},
		{"demo-1.0.data/data/__pycache__/x.pyc/../sitecustomize.py", ".."},
		{"demo-1.0.data/purelib/__pycache__/sitecustomize.cpython-311.pyc", "sitecustomize"},
		{"demo-1.0.data/purelib", "in place of the purelib scheme's directory"},
	} {
		t.Run(tc.member, func(t *testing.T) {
			_, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{Name: tc.member, Body: "x"})...), DefaultLimits())
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("got %v, want a refusal for %s", err, tc.reason)
			}
		})
	}
	w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(
		member{Name: "demo-1.0.data/data/share/demo/demo.json", Body: "{}"},
		member{Name: "demo-1.0.data/data/etc/demo.conf", Body: "x"},
		member{Name: "demo-1.0.data/data/lib/python3.11/site-packages/demo_extra.pth", Body: "import os\n"},
	)...), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Pth) != 1 || !w.Pth[0].Executable {
		t.Errorf("pth %+v, want the .data/data one in site-packages", w.Pth)
	}
}

func TestMemberNamesAreTerminalSafe(t *testing.T) {
	for _, name := range []string{"demo/\x1b[2Jx.py", "demo/\u202eyp.x", "demo/\u200bx.py", "demo/x\x7f.py"} {
		_, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{Name: name, Body: "x"})...), DefaultLimits())
		if err == nil || !strings.Contains(err.Error(), "control, format or invisible") {
			t.Errorf("%q: got %v", name, err)
		}
	}
}

func TestModuleOf(t *testing.T) {
	for rel, want := range map[string]string{
		"demo/x.py":                                 "demo x",
		"demo/__pycache__/x.cpython-311.pyc":        "demo x",
		"__pycache__/sitecustomize.cpython-311.pyc": " sitecustomize",
		"demo/_x.cpython-311-x86_64-linux-gnu.so":   "demo _x",
		"demo/__init__.py":                          "demo __init__",
		"demo/data.json":                            "-",
		"demo-1.0.dist-info/x.py":                   "-",
		"demo/__pycache__/x.txt":                    "-",
	} {
		dir, name, ok := moduleOf(rel)
		got := dir + " " + name
		if !ok {
			got = "-"
		}
		if got != want {
			t.Errorf("moduleOf(%q) = %q, want %q", rel, got, want)
		}
	}
}
