package escape

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, text, line string }{
		{"plain text\nnext\tline", "plain text\nnext\tline", `plain text\x0anext\x09line`},
		{"\x1b]52;c;Y3VybA==\x07", `\x1b]52;c;Y3VybA==\x07`, `\x1b]52;c;Y3VybA==\x07`},
		{"\x1b[2J\rover", `\x1b[2J\x0dover`, `\x1b[2J\x0dover`},
		{"csi \u009b31m", `csi \u009b31m`, `csi \u009b31m`},
		{"bidi \u202eevil\u2066", `bidi \u202eevil\u2066`, `bidi \u202eevil\u2066`},
		{"bad \xff\xfe utf-8", `bad \xff\xfe utf-8`, `bad \xff\xfe utf-8`},
		{"del \x7f nul \x00", `del \x7f nul \x00`, `del \x7f nul \x00`},
		{"unicode ok: é 中 🙂 back\\slash", "unicode ok: é 中 🙂 back\\slash", "unicode ok: é 中 🙂 back\\slash"},
		{"sep \u2028", `sep \u2028`, `sep \u2028`},
	} {
		if got := Text(c.in); got != c.text {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.text)
		}
		if got := Line(c.in); got != c.line {
			t.Errorf("Line(%q) = %q, want %q", c.in, got, c.line)
		}
	}
}

// Whatever the input, the output of Text has no byte a terminal acts on.
func FuzzText(f *testing.F) {
	for _, s := range []string{"\x1b]0;t\x07", "\u009b", "\xff", "ok\n", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Text(%q) = %q: invalid UTF-8", s, out)
		}
		for _, r := range out {
			if unsafe(r, false) {
				t.Fatalf("Text(%q) = %q keeps %U", s, out, r)
			}
		}
		if clean(s, false) && out != s {
			t.Fatalf("Text changed clean %q to %q", s, out)
		}
	})
}

func TestProblem(t *testing.T) {
	t.Parallel()
	for name, bad := range map[string]bool{
		"node_modules/a/index.js": false, "node_modules/a/é.js": false, "node_modules/a/x y.js": false,
		"evil\x1b]0;t\x07.txt": true, "line\nbreak": true, "tab\there": true, "\xff": true, "a\u202eb": true, "c1\u0085": true,
	} {
		if got := Problem(name) != ""; got != bad {
			t.Errorf("Problem(%q) = %q, want a problem: %v", name, Problem(name), bad)
		}
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	in := map[string]string{"tail": "\x1b]52;c;x\x07 \u009b \u202e \xff ok"}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := JSON(data)
	for _, r := range string(out) {
		if unsafe(r, true) {
			t.Fatalf("JSON kept %U: %s", r, out)
		}
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if want := strings.ToValidUTF8(in["tail"], "\ufffd"); back["tail"] != want {
		t.Errorf("round trip %q, want %q", back["tail"], want)
	}
}
