package decoy

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/pip/wheel"
)

func TestDecoysLookReal(t *testing.T) {
	d := New()
	if !strings.HasPrefix(d.env["GITHUB_TOKEN"], "ghp_") || len(d.env["GITHUB_TOKEN"]) != 40 {
		t.Errorf("GITHUB_TOKEN %q", d.env["GITHUB_TOKEN"])
	}
	if !strings.Contains(d.files[".npmrc"], ":_authToken=npm_") || !strings.Contains(d.files[".aws/credentials"], "aws_access_key_id = AKIA") ||
		!strings.HasPrefix(d.files[".ssh/id_ed25519"], "-----BEGIN OPENSSH PRIVATE KEY-----\n") {
		t.Errorf("decoy files %v", d.files)
	}
	if other := New(); other.env["GITHUB_TOKEN"] == d.env["GITHUB_TOKEN"] {
		t.Error("two runs got the same decoy")
	}
}

// A stolen decoy is found raw, in hex and in base64 at any alignment,
// twice encoded or not, inside other data.
func TestDecoysFoundInEveryForm(t *testing.T) {
	d := New()
	tok := d.env["GITHUB_TOKEN"]
	for _, prefix := range []string{"", "x", "xy", "xyz"} {
		loot := prefix + "env: GITHUB_TOKEN=" + tok + "\n"
		b64 := base64.StdEncoding.EncodeToString([]byte(loot))
		for name, form := range map[string]string{
			"raw":     loot,
			"hex":     hex.EncodeToString([]byte(loot)),
			"base64":  b64,
			"base64²": base64.StdEncoding.EncodeToString([]byte(b64)),
		} {
			if got := d.Find([]byte("junk " + form + " junk")); !slices.Equal(got, []string{"GITHUB_TOKEN"}) {
				t.Errorf("%s with prefix %q: found %v", name, prefix, got)
			}
		}
	}
	if got := d.Find([]byte("ghp_" + strings.Repeat("a", 36))); len(got) != 0 {
		t.Errorf("a token that is not the decoy matched %v", got)
	}
}

func TestOutputScannerCatchesSplitWrites(t *testing.T) {
	d := New()
	s := d.NewOutputScanner()
	line := "leaking " + d.env["NPM_TOKEN"] + " now\n"
	for i := 0; i < len(line); i += 7 {
		fmt.Fprint(s, line[i:min(i+7, len(line))])
	}
	if got := s.Found(); !slices.Equal(got, []string{"NPM_TOKEN"}) {
		t.Errorf("found %v", got)
	}
}

func TestReadDecoysByAccessTime(t *testing.T) {
	d := New()
	listing := "1700000000.5 1700000000.5 .npmrc\n" + // untouched
		"1800000000.0 1700000000.5 .aws/credentials\n" + // read
		"1800000000.0 1800000000.0 .npm/_logs/x.log\n" // npm's own file, not a decoy
	if got := d.Read(listing); !slices.Equal(got, []string{"~/.aws/credentials"}) {
		t.Errorf("read %v", got)
	}
}

func TestScanTreeFindsStashes(t *testing.T) {
	d := New()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"node_modules/evil/loot.txt": base64.StdEncoding.EncodeToString([]byte(d.files[".aws/credentials"])),
		"node_modules/good/index.js": "module.exports = 1\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hits, err := d.ScanTree(filepath.Join(dir, "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || !slices.Equal(hits["evil/loot.txt"], []string{"~/.aws/credentials"}) {
		t.Errorf("hits %v", hits)
	}
}

// base64Runs finds what the regular expression it replaces finds.
func TestBase64RunsMatchesTheExpression(t *testing.T) {
	re := regexp.MustCompile(`[A-Za-z0-9+/]{60,}={0,2}`)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("AZaz09+/===.\n\x00\xff")
	for n := range 2000 {
		data := make([]byte, rng.IntN(400))
		for i := range data {
			if rng.IntN(8) == 0 {
				data[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				data[i] = "ABCxyz019+/"[rng.IntN(11)]
			}
		}
		want, got := re.FindAll(data, -1), base64Runs(data)
		if len(want) != len(got) {
			t.Fatalf("case %d: %d runs, the expression finds %d", n, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(want[i], got[i]) {
				t.Fatalf("case %d run %d: %q, the expression finds %q", n, i, got[i], want[i])
			}
		}
	}
}

// The scan opens every wheel that pip's vetting would accept: a decoy
// stashed in a wheel just under wheel's member limit is still found.
func TestZipLimitIsTheWheels(t *testing.T) {
	if MaxZipMembers != wheel.DefaultLimits().MaxEntries {
		t.Errorf("the decoy scan opens zips of up to %d members, package wheel accepts %d", MaxZipMembers, wheel.DefaultLimits().MaxEntries)
	}
}
