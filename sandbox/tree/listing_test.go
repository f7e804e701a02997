package tree

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ListScript on a real tree, parsed: every kind, a name with a newline, an
// unreadable file.
func TestListScriptRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	nm := filepath.Join(dir, "node_modules")
	for _, d := range []string{"a/lib", "b"} {
		if err := os.MkdirAll(filepath.Join(nm, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, body string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(nm, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("a/index.js", "one", 0o644)
	write("a/lib/cli.js", "two", 0o755)
	write("b/line\nbreak", "three", 0o644)
	write("b/secret", "four", 0o000)
	if err := os.Symlink("../a/lib/cli.js", filepath.Join(nm, "b", "link")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", ListScript, "sh", "node_modules", filepath.Join(dir, "out"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	list, _ := os.Open(filepath.Join(dir, "out.list"))
	sums, _ := os.Open(filepath.Join(dir, "out.sums"))
	got, err := Parse(list, sums, Limits{MaxEntries: 100, MaxNameLen: 4096})
	if err != nil {
		t.Fatal(err)
	}
	sum := func(s string) Sum { return sha256.Sum256([]byte(s)) }
	want := Tree{
		"node_modules":               {Kind: Dir},
		"node_modules/a":             {Kind: Dir},
		"node_modules/a/lib":         {Kind: Dir},
		"node_modules/a/index.js":    {Kind: File, Sum: sum("one")},
		"node_modules/a/lib/cli.js":  {Kind: File, Exec: true, Sum: sum("two")},
		"node_modules/b":             {Kind: Dir},
		"node_modules/b/line\nbreak": {Kind: File, Sum: sum("three")},
		"node_modules/b/link":        {Kind: Symlink, Target: "../a/lib/cli.js"},
	}
	if os.Geteuid() != 0 {
		want["node_modules/b/secret"] = Entry{Kind: File, Unread: true} // root reads it anyway
	} else {
		want["node_modules/b/secret"] = Entry{Kind: File, Sum: sum("four")}
	}
	if len(got) != len(want) {
		t.Errorf("%d entries, want %d: %v", len(got), len(want), got)
	}
	for name, e := range want {
		if got[name] != e {
			t.Errorf("%q = %+v, want %+v", name, got[name], e)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxEntries: 2, MaxNameLen: 64}
	hexSum := hex.EncodeToString(make([]byte, 32))
	for name, c := range map[string]struct{ list, sums string }{
		"too many entries": {"d\x00755\x00a\x00\x00d\x00755\x00a/b\x00\x00d\x00755\x00a/c\x00\x00", ""},
		"truncated record": {"d\x00755\x00a\x00", ""},
		"long name":        {"f\x00644\x00" + strings.Repeat("x", 100) + "\x00\x00", ""},
		"unknown type":     {"z\x00644\x00a\x00\x00", ""},
		"bad mode":         {"f\x00abc\x00a\x00\x00", ""},
		"sum of no file":   {"d\x00755\x00a\x00\x00", hexSum + "  a\x00"},
		"malformed sum":    {"f\x00644\x00a\x00\x00", "zz  a\x00"},
	} {
		if _, err := Parse(strings.NewReader(c.list), strings.NewReader(c.sums), lim); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
