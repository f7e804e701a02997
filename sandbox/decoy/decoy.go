package decoy

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"maps"
	"math/big"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Set is one run's decoys: credentials that look real and are worth
// nothing, planted in the scripts container's home and environment with
// fresh random values every run. No build has a reason to read
// ~/.aws/credentials or to print a GitHub token, so a script that does is
// trying to steal, and the run says so (and fails with --strict). The real
// credentials never come near it.
type Set struct {
	files  map[string]string // home-relative path -> content
	env    map[string]string
	values map[string]string // secret value -> which decoy it is
	search map[string]string // every encoded form of a value -> which decoy
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

// New makes a set with fresh values.
func New() *Set {
	npmTok := "npm_" + randomString(alnum, 36)
	ghTok := "ghp_" + randomString(alnum, 36)
	npmEnvTok := "npm_" + randomString(alnum, 36)
	awsID := "AKIA" + randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
	awsSecret := randomString(alnum+"+/", 40)
	keyBody := make([]byte, 180)
	_, _ = rand.Read(keyBody)
	sshKey := base64.StdEncoding.EncodeToString(keyBody)
	d := &Set{
		files: map[string]string{
			".npmrc":           "//registry.npmjs.org/:_authToken=" + npmTok + "\n",
			".aws/credentials": "[default]\naws_access_key_id = " + awsID + "\naws_secret_access_key = " + awsSecret + "\n",
			".ssh/id_ed25519":  "-----BEGIN OPENSSH PRIVATE KEY-----\n" + wrap(sshKey, 70) + "-----END OPENSSH PRIVATE KEY-----\n",
		},
		env: map[string]string{"GITHUB_TOKEN": ghTok, "NPM_TOKEN": npmEnvTok},
		values: map[string]string{
			npmTok: "~/.npmrc", awsID: "~/.aws/credentials", awsSecret: "~/.aws/credentials",
			sshKey[:48]: "~/.ssh/id_ed25519", ghTok: "GITHUB_TOKEN", npmEnvTok: "NPM_TOKEN",
		},
	}
	d.search = d.needles()
	return d
}

func wrap(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	return b.String() + s + "\n"
}

// Files are the decoy files by their path in the home (".aws/credentials").
func (d *Set) Files() map[string]string { return maps.Clone(d.files) }

// Env are the decoy variables (GITHUB_TOKEN, NPM_TOKEN).
func (d *Set) Env() map[string]string { return maps.Clone(d.env) }

// Names lists every decoy as the report names it: "~/.npmrc", "GITHUB_TOKEN".
func (d *Set) Names() []string {
	var out []string
	for _, f := range slices.Sorted(maps.Keys(d.files)) {
		out = append(out, "~/"+f)
	}
	return append(out, slices.Sorted(maps.Keys(d.env))...)
}

// needles are the forms a stolen value travels in: raw, hex, and base64 at
// each of the three alignments (the middle of the encoding, which does not
// depend on the bytes around it).
func (d *Set) needles() map[string]string {
	out := map[string]string{}
	for v, what := range d.values {
		out[v] = what
		out[hex.EncodeToString([]byte(v))] = what
		for pad := 0; pad < 3; pad++ {
			enc := base64.StdEncoding.EncodeToString(append(make([]byte, pad), v...))
			// Drop the characters that mix in the padding bytes and the end.
			start := (pad*8 + 5) / 6
			if end := len(enc) - 4; end > start+8 {
				out[enc[start:end]] = what
			}
		}
	}
	return out
}

// Find lists which decoys data holds, also inside base64 runs once
// decoded (the needles catch one more encoding: the worms' double base64).
// Files are searched with findIn, a window at a time (decoyscan.go).
func (d *Set) Find(data []byte) []string {
	s := d.newScan()
	s.add(data)
	return s.found()
}

// base64Runs are the runs of base64 long enough to hide a token in: what
// the expression [A-Za-z0-9+/]{60,}={0,2} finds, by a byte loop, because
// Go's regexp took 0.6 s on esbuild's 10 MB binary, which its postinstall
// writes on every install, and the loop 37 ms (measured here).
func base64Runs(data []byte) [][]byte {
	var runs [][]byte
	start := -1
	for i := 0; i <= len(data); i++ {
		if i < len(data) && isBase64[data[i]] {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= 60 {
			end := i
			for end < len(data) && end-i < 2 && data[end] == '=' {
				end++
			}
			runs = append(runs, data[start:end])
		}
		start = -1
	}
	return runs
}

// isBase64 marks the standard alphabet's characters.
var isBase64 = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") {
		t[c] = true
	}
	return t
}()

// OutputScanner watches a container's whole output for decoy values,
// keeping only enough to catch one split across writes.
type OutputScanner struct {
	d    *Set
	mu   sync.Mutex
	keep []byte
	hits map[string]bool
}

// NewOutputScanner watches output for d's values.
func (d *Set) NewOutputScanner() *OutputScanner {
	return &OutputScanner{d: d, hits: map[string]bool{}}
}

func (s *OutputScanner) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := append(s.keep, p...)
	for _, what := range s.d.Find(buf) {
		s.hits[what] = true
	}
	if n := 512; len(buf) > n {
		buf = buf[len(buf)-n:]
	}
	s.keep = append([]byte(nil), buf...)
	return len(p), nil
}

// Found lists the decoys the output carried.
func (s *OutputScanner) Found() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.hits))
}

// ScanTree searches every file below dir (and every member of a wheel) for
// decoys and returns them by file, relative to dir.
func (d *Set) ScanTree(dir string) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		found, err := d.FindInStaged(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".whl") {
			in, err := d.findInZip(p)
			if err != nil {
				return err
			}
			found = append(found, in...)
		}
		if len(found) > 0 {
			sort.Strings(found)
			out[filepath.ToSlash(rel)] = found
		}
		return nil
	})
	return out, err
}

// Read parses `find -printf '%A@ %T@ %P\n'` output and returns the
// decoy files whose access time is after their modification time (they
// are planted dated a day back).
func (d *Set) Read(listing string) []string {
	var read []string
	for _, line := range strings.Split(listing, "\n") {
		f := strings.SplitN(strings.TrimSpace(line), " ", 3)
		if len(f) != 3 {
			continue
		}
		if _, ok := d.files[f[2]]; !ok {
			continue
		}
		atime, err1 := strconv.ParseFloat(f[0], 64)
		mtime, err2 := strconv.ParseFloat(f[1], 64)
		if err1 == nil && err2 == nil && atime > mtime+1 {
			read = append(read, "~/"+f[2])
		}
	}
	sort.Strings(read)
	return read
}
