package wheel

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

// Issue 15: Python reads .pth files with universal newlines (3.11) or
// str.splitlines() (3.13), and entry_points.txt with str.splitlines(), so
// a line hides behind any of these from a reader that splits on "\n". Each
// is refused in both files, wherever it is; "\r\n" is one break to every
// reader and stays readable.
func TestHiddenLinesAreRefused(t *testing.T) {
	breaks := map[string]string{
		`\r`: "\r", `\v`: "\v", `\f`: "\f", `\x1c`: "\x1c", `\x1d`: "\x1d", `\x1e`: "\x1e",
		`\x85`: "\u0085", `U+2028`: "\u2028", `U+2029`: "\u2029",
	}
	for name, br := range breaks {
		for _, tc := range []struct {
			file, member, body string
		}{
			{".pth", "demo.pth", "/opt/demo" + br + "import os; os.system('x')\n"},
			{".pth at the end", "demo.pth", "/opt/demo\n" + br},
			{".data .pth", "demo-1.0.data/purelib/demo.pth", "/opt/demo" + br + "import os\n"},
			{"entry_points.txt", "demo-1.0.dist-info/entry_points.txt", "[demo.plugins]\nx = y" + br + "[console_scripts]" + br + "pip3 = demo:main\n"},
		} {
			t.Run(tc.file+" "+name, func(t *testing.T) {
				_, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{Name: tc.member, Body: tc.body})...), DefaultLimits())
				var re *RefusedError
				if !errors.As(err, &re) {
					t.Fatalf("got %v, want a refusal", err)
				}
				if re.Member != tc.member || !strings.Contains(re.Reason, "line break") || !strings.Contains(re.Reason, "hide") {
					t.Errorf("refused %q: %s", re.Member, re.Reason)
				}
			})
		}
	}
}

func TestOddTextIsRefused(t *testing.T) {
	for _, tc := range []struct{ name, body, reason string }{
		{"BOM", "\ufeffimport os\n", "byte order mark"},
		{"BOM later", "/opt\n\ufeffimport os\n", "byte order mark"},
		{"NUL", "/opt\x00\nimport os\n", "NUL"},
		{"latin-1", "/opt/caf\xe9\n", "not valid UTF-8"},
	} {
		for _, name := range []string{"demo.pth", "demo-1.0.dist-info/entry_points.txt"} {
			t.Run(tc.name+" "+name, func(t *testing.T) {
				_, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{Name: name, Body: tc.body})...), DefaultLimits())
				if err == nil || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("got %v, want a refusal for %s", err, tc.reason)
				}
			})
		}
	}
}

// "\r\n" is read alike everywhere: a .pth with it is read, and its import
// line found; an entry point behind it is seen and checked.
func TestCRLFIsReadLikePython(t *testing.T) {
	w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(
		member{Name: "demo.pth", Body: "/opt/demo\r\nimport os\r\n"},
		member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\r\ndemo-tool = demo:main\r\n"},
	)...), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Pth) != 1 || !w.Pth[0].Executable || w.Pth[0].Why != "line 2 starts with import" {
		t.Errorf("pth %+v, want line 2 executable", w.Pth)
	}
	if strings.Join(w.Scripts, ",") != "demo-tool" {
		t.Errorf("scripts %v", w.Scripts)
	}
	_, err = Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(
		member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\r\npip3 = demo:main\r\n"})...), DefaultLimits())
	if err == nil || !strings.Contains(err.Error(), `"pip3"`) {
		t.Errorf("pip3 behind \\r\\n: got %v", err)
	}
}

// What importlib.metadata and pkg_resources take for a console script is
// what is checked: section names in brackets either way, Python's
// whitespace, and names that distlib would cut down to pip3.
func TestEntryPointsAreReadLikePip(t *testing.T) {
	for _, tc := range []struct{ name, body, reason string }{
		{"plain", "[console_scripts]\npip3 = demo:main\n", `"pip3"`},
		{"gui", "[gui_scripts]\npython3.11 = demo:main\n", `"python3.11"`},
		{"importlib strips every bracket", "[[console_scripts]]\npip3 = demo:main\n", `"pip3"`},
		{"pkg_resources strips inside", "[ console_scripts ]\npip3 = demo:main\n", `"pip3"`},
		{"Python's whitespace", "\x1f[console_scripts]\x1f\n\x1fpip3\x1f= demo:main\n", `"pip3"`},
		{"a semicolon is no comment", "[console_scripts]\n;pip3 = demo:main\n", "not a plain file name"},
		{"a path", "[console_scripts]\nbin/pip3 = demo:main\n", "not a plain file name"},
		{"a space", "[console_scripts]\nx pip3 = demo:main\n", "not a plain file name"},
		{"an open bracket", "[console_scripts]\n[pip3 = demo:main\n", "not a plain file name"},
		{"a leading dot", "[console_scripts]\n.. = demo:main\n", "not a plain file name"},
		{"activate", "[console_scripts]\nactivate = demo:main\n", `"activate"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{Name: "demo-1.0.dist-info/entry_points.txt", Body: tc.body})...), DefaultLimits())
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(re.Reason, tc.reason) {
				t.Fatalf("got %v, want a refusal mentioning %s", err, tc.reason)
			}
			if re.Member != "demo-1.0.dist-info/entry_points.txt" {
				t.Errorf("member %q", re.Member)
			}
		})
	}
	w, err := Inspect(makeWheel(t, "demo-1.0-py3-none-any.whl", with(member{Name: "demo-1.0.dist-info/entry_points.txt",
		Body: "# [console_scripts]\nnot = counted\n[console_scripts]\n# pip3 = demo:main\n pipx = demo:main \npip-compile=demo:c\n[demo.plugins]\npip = not:a_command\n"})...), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.Scripts, ","); got != "pip-compile,pipx" {
		t.Errorf("scripts %q, want pip-compile,pipx", got)
	}
}

// pyStrip strips exactly what Python 3.11's str.isspace() calls
// whitespace (printed by CPython 3.11.2 on Debian 12).
func TestPyStripIsPythons(t *testing.T) {
	python := []rune{0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
		0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
		0x2028, 0x2029, 0x202f, 0x205f, 0x3000}
	want := map[rune]bool{}
	for _, r := range python {
		want[r] = true
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if pySpace(r) != want[r] {
			t.Errorf("pySpace(%U) = %v, Python says %v", r, pySpace(r), want[r])
		}
	}
}
