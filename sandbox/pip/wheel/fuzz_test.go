package wheel

import (
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/escape"
)

// pythonLines splits text as Python's str.splitlines() does, the widest
// of the readers a .pth file or entry_points.txt meets.
func pythonLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.FieldsFunc(s, func(r rune) bool {
		switch r {
		case '\n', '\r', '\v', '\f', '\x1c', '\x1d', '\x1e', '\u0085', '\u2028', '\u2029':
			return true
		}
		return false
	})
}

// FuzzInspect builds wheels from fuzzed member names, a .pth body and an
// entry_points.txt, with a RECORD that agrees, and checks what Inspect
// lets through against how Python would read it: no accepted .pth hides
// an import line from the vetting, no accepted entry point or scripts file
// takes the place of Python or pip, no accepted name carries a control
// character.
func FuzzInspect(f *testing.F) {
	f.Add("demo/x.py", "/opt/lib\n", "[console_scripts]\ndemo = demo:main\n")
	f.Add("demo-1.0.data/scripts/pip3", "import os\n", "[console_scripts]\npip3 = x:y\n")
	f.Add("demo-1.0.data/data/bin/python3.11", "/x\rimport os\n", "[console_scripts]\nok = x:y\rpip = x:y\n")
	f.Add("sitecustomize.py", "x\u2028import os", "[ console_scripts ]\n;pip = x:y\n")
	f.Fuzz(func(t *testing.T, name, pth, entryPoints string) {
		members := with(
			member{Name: name, Body: "x"},
			member{Name: "demo.pth", Body: pth},
			member{Name: "demo-1.0.dist-info/entry_points.txt", Body: entryPoints},
		)
		w, err := Inspect(wheeltestWrite(t, members), DefaultLimits())
		if err != nil {
			return // refused: nothing reaches the host
		}
		if problem := escape.Problem(name); problem != "" {
			t.Fatalf("accepted member %q: %s", name, problem)
		}
		for _, line := range pythonLines(pth) {
			if strings.HasPrefix(line, "import ") || strings.HasPrefix(line, "import\t") {
				if len(w.Pth) == 0 || !w.Pth[0].Executable {
					t.Fatalf(".pth %q runs %q at every start, and Inspect said %+v", pth, line, w.Pth)
				}
			}
		}
		for _, s := range w.Scripts {
			if commandRule(s) != "" {
				t.Fatalf("accepted command %q", s)
			}
		}
		for _, line := range pythonLines(entryPoints) {
			cmd, _, ok := strings.Cut(line, "=")
			if cmd = strings.TrimSpace(cmd); ok && commandRule(cmd) != "" && strings.Contains(entryPoints, "console_scripts") {
				// A reader could see this name as a command: Inspect must
				// have listed it (and so refused) unless no section of
				// the file is a scripts section for any reader.
				if !strings.Contains(strings.Join(w.Scripts, ","), cmd) && readsAsScripts(entryPoints) {
					t.Fatalf("entry_points.txt %q installs %q, which Inspect let through (scripts %v)", entryPoints, cmd, w.Scripts)
				}
			}
		}
	})
}

// readsAsScripts says whether some line of text opens a console_scripts
// or gui_scripts section the way configparser or pip's own reader would.
func readsAsScripts(text string) bool {
	for _, line := range pythonLines(text) {
		l := strings.TrimSpace(line)
		// A section header is in brackets for both readers: a bare
		// " console_scripts" line opens nothing (the fuzzer's 651b0fa0).
		if !strings.HasPrefix(l, "[") || !strings.HasSuffix(l, "]") {
			continue
		}
		if scriptSection(strings.Trim(l, "[] ")) {
			return true
		}
	}
	return false
}

func wheeltestWrite(t *testing.T, members []member) string {
	return makeWheel(t, "demo-1.0-py3-none-any.whl", members...)
}
