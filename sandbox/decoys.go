package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/big"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/safe-install/safe-install/sandbox/tree"
)

// DecoyHome is the scripts container's home: a volume of this run holding
// the decoy files (a tmpfs cannot be filled before the container starts).
const DecoyHome = "/home/sandbox"

// decoys are credentials that look real and are worth nothing, planted in
// the scripts container's home and environment with fresh random values
// every run. No build has a reason to read ~/.aws/credentials or to print a
// GitHub token, so a script that does is trying to steal, and the run says
// so (and fails with --strict). The real credentials never come near it.
type decoys struct {
	files  map[string]string // home-relative path -> content
	env    map[string]string
	values map[string]string // secret value -> which decoy it is
	search map[string]string // every encoded form of a value -> which decoy
	// planted: the tools volume holds netlog.js (the first scripts
	// container copies it in).
	planted bool
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

func newDecoys() *decoys {
	npmTok := "npm_" + randomString(alnum, 36)
	ghTok := "ghp_" + randomString(alnum, 36)
	npmEnvTok := "npm_" + randomString(alnum, 36)
	awsID := "AKIA" + randomString("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
	awsSecret := randomString(alnum+"+/", 40)
	keyBody := make([]byte, 180)
	_, _ = rand.Read(keyBody)
	sshKey := base64.StdEncoding.EncodeToString(keyBody)
	d := &decoys{
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

// inputs are the decoy files, dated a day back so that a read shows as an
// access time after the modification time.
func (d *decoys) inputs() []Input {
	var out []Input
	for _, name := range sortedKeys(d.files) {
		out = append(out, Input{Name: name, Data: []byte(d.files[name]), Mode: 0o600, ModTime: time.Now().Add(-24 * time.Hour)})
	}
	return out
}

// needles are the forms a stolen value travels in: raw, hex, and base64 at
// each of the three alignments (the middle of the encoding, which does not
// depend on the bytes around it).
func (d *decoys) needles() map[string]string {
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

// find lists which decoys data holds, also inside base64 runs once
// decoded (the needles catch one more encoding: the worms' double base64).
// Files are searched with findIn, a window at a time (decoyscan.go).
func (d *decoys) find(data []byte) []string {
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

// TheftAttempt is a decoy a package touched.
type TheftAttempt struct {
	Decoy string `json:"decoy"` // ~/.npmrc, GITHUB_TOKEN, ...
	How   string `json:"how"`   // "read", "printed", "stashed in FILE"
	// Packages are the ones that may have done it: the owner of the
	// stashing file, else every package whose scripts ran.
	Packages []string `json:"packages"`
}

func (t TheftAttempt) String() string {
	return fmt.Sprintf("%s: decoy %s %s", strings.Join(t.Packages, ", "), t.Decoy, t.How)
}

// outputScanner watches a container's whole output for decoy values,
// keeping only enough to catch one split across writes.
type outputScanner struct {
	d    *decoys
	mu   sync.Mutex
	keep []byte
	hits map[string]bool
}

func newOutputScanner(d *decoys) *outputScanner {
	return &outputScanner{d: d, hits: map[string]bool{}}
}

func (s *outputScanner) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	buf := append(s.keep, p...)
	for _, what := range s.d.find(buf) {
		s.hits[what] = true
	}
	if n := 512; len(buf) > n {
		buf = buf[len(buf)-n:]
	}
	s.keep = append([]byte(nil), buf...)
	return len(p), nil
}

func (s *outputScanner) found() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedKeys(s.hits)
}

// scanTree searches every file below dir (and every member of a wheel) for
// decoys and returns them by file, relative to dir.
func (d *decoys) scanTree(dir string) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		found, err := d.findInStaged(p)
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

// readDecoys parses `find -printf '%A@ %T@ %P\n'` output and returns the
// decoy files whose access time is after their modification time.
func (d *decoys) readDecoys(listing string) []string {
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

// startAudit records the decoys the scripts printed, and starts listing the
// ones they read: a read shows as an access time after the modification
// time, listed by a trusted command in a fresh container with the home
// volume mounted read-only. It runs while the artifacts are copied back;
// the returned function waits for it.
func (r *runner) startAudit(ctx context.Context, ph PhaseResult) (wait func() error) {
	ran := ranPackages(ph)
	for _, what := range r.decoyScan.found() {
		r.res.Theft = append(r.res.Theft, TheftAttempt{Decoy: what, How: "printed in the scripts' output", Packages: ran})
	}
	id, err := r.create(ctx, decoyAuditSpec(r.opts.Image, r.names, r.plan.ProjectScripts != nil, r.opts.Limits, r.profiles))
	if err != nil {
		return func() error { return err }
	}
	done := make(chan error, 1)
	var read []string
	finished := make(chan struct{})
	r.auditFinished = finished
	go func() {
		defer close(finished)
		if err := r.runTrusted(ctx, id, "the decoy audit"); err != nil {
			done <- err
			return
		}
		var listing bytes.Buffer
		if err := r.eng.Logs(ctx, id, &listing); err != nil {
			done <- fmt.Errorf("%w: reading the decoy audit: %w", ErrEngine, err)
			return
		}
		read = r.decoys.readDecoys(listing.String())
		done <- nil
	}()
	return func() error {
		if err := <-done; err != nil {
			return err
		}
		for _, f := range read {
			r.res.Theft = append(r.res.Theft, TheftAttempt{Decoy: f, How: "read", Packages: ran})
		}
		return nil
	}
}

// decoysInArtifacts records decoys stashed in the copied-back files, by the
// package that owns the file.
func (r *runner) decoysInArtifacts() error {
	if r.decoys == nil {
		return nil
	}
	hits := map[string][]string{}
	if r.tamper != nil {
		// Only what the scripts phase changed or added can hold a value
		// made for this run: the rest is as npm extracted it.
		for _, name := range r.tamper.allChanged() {
			var found []string
			switch e := r.tamper.seen[name]; e.Kind {
			case tree.File:
				var err error
				if found, err = r.decoys.findInStaged(filepath.Join(r.staging, filepath.FromSlash(name))); err != nil {
					return fmt.Errorf("searching the artifacts for decoys: %w", err)
				}
			case tree.Symlink:
				found = r.decoys.find([]byte(e.Target)) // a link's target can carry a value too
			}
			if len(found) > 0 {
				hits[name] = found
			}
		}
	} else {
		for _, a := range r.plan.Artifacts {
			found, err := r.decoys.scanTree(filepath.Join(r.staging, a))
			if err != nil {
				return fmt.Errorf("searching the artifacts for decoys: %w", err)
			}
			for f, what := range found {
				hits[a+"/"+f] = what
			}
		}
	}
	listed, unlisted := map[string]int{}, map[string]int{}
	for _, rel := range sortedKeys(hits) {
		owner := r.owner(rel)
		if strings.HasSuffix(rel, ".whl") {
			owner = wheelPackage(filepath.Base(rel))
		}
		if owner == "" {
			owner = "unknown package"
		}
		for _, what := range hits[rel] {
			if listed[what]++; listed[what] > maxStashes {
				unlisted[what]++
				continue
			}
			r.res.Theft = append(r.res.Theft, TheftAttempt{Decoy: what, How: "stashed in " + rel, Packages: []string{owner}})
		}
	}
	for _, what := range sortedKeys(unlisted) {
		r.res.Theft = append(r.res.Theft, TheftAttempt{Decoy: what, How: fmt.Sprintf("stashed in %d more files, not listed (bound maxStashes)", unlisted[what]),
			Packages: []string{"the packages above"}})
	}
	return nil
}

// maxStashes is how many files a decoy is listed as stashed in: a script
// may copy it into a million, and the report and the terminal stay short.
const maxStashes = 20

// reportTheft tells the user, and fails the run with --strict.
func (r *runner) reportTheft() error {
	for _, t := range r.res.Theft {
		r.steps.warn("theft attempt: %s", t)
	}
	if len(r.res.Theft) > 0 && r.opts.Strict {
		return fmt.Errorf("%w: %d decoy credential(s) touched, first %s; the project was left unchanged", ErrTheft, len(r.res.Theft), r.res.Theft[0])
	}
	return nil
}

// ranPackages are the packages whose scripts or builds ran in a phase.
func ranPackages(ph PhaseResult) []string {
	seen := map[string]bool{}
	for _, s := range ph.Scripts {
		seen[s.Package] = true
	}
	if len(seen) == 0 {
		return []string{"a package whose scripts ran"}
	}
	return sortedKeys(seen)
}
