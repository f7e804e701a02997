//go:build e2e

// End-to-end tests: the real binary, a real rootless Podman, real npm and
// real packages. `make test-e2e` builds the binary and runs them as the
// rootless user. Outside CI they skip when Podman is missing; in CI
// (CI=true) they fail instead.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binary   string // the safe-install under test
	setupErr error  // why the e2e environment is not usable
)

// afterTests run once every test has ended (the corpus table).
var afterTests []func()

func TestMain(m *testing.M) {
	stop, err := setupE2E()
	setupErr = err
	code := m.Run()
	for _, f := range afterTests {
		f()
	}
	if err == nil && code == 0 {
		if left := leftovers(); left != "" {
			fmt.Fprintf(os.Stderr, "FAIL: containers or volumes left behind:\n%s\n", left)
			code = 1
		}
	}
	if stop != nil {
		stop()
	}
	if verdaccioStop != nil {
		verdaccioStop()
	}
	os.Exit(code)
}

// setupE2E finds the binary and Podman, starts the user's API service (the
// tool under test gets a fake HOME, so it must find an existing service
// with the real storage) and builds the sandbox image once. With
// SAFE_INSTALL_TEST_ENGINE set (a URL, like CI's Podman 5 service from
// .ci/podman5.sh) every safe-install and podman the tests start uses that
// engine instead, through CONTAINER_HOST.
func setupE2E() (func(), error) {
	binary = os.Getenv("SAFE_INSTALL_BIN")
	if binary == "" {
		return nil, fmt.Errorf("SAFE_INSTALL_BIN is not set: run `make test-e2e`")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, fmt.Errorf("podman not found (sudo make setup): %w", err)
	}
	if os.Geteuid() == 0 {
		return nil, fmt.Errorf("e2e tests run as the rootless user: `make test-e2e` switches to it when run as root")
	}
	stop := func() {
		if localService != nil {
			stopService(localService)
			localService = nil
		}
	}
	url := testEngine
	if url != "" {
		os.Setenv("CONTAINER_HOST", url)
	} else {
		url = "unix://" + localSocket()
		if err := startLocalService(); err != nil {
			return nil, err
		}
	}
	// The log names both ends: a 4.3 client talks to a 5.x service fine.
	out, err := exec.Command("podman", "--url", url, "version").CombinedOutput()
	if err != nil {
		return stop, fmt.Errorf("podman --url %s version: %v\n%s", url, err, out)
	}
	fmt.Fprintf(os.Stderr, "e2e: engine %s\n%s", url, out)
	out, err = exec.Command(binary, "image", "list").CombinedOutput()
	if err != nil {
		return stop, fmt.Errorf("safe-install image list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "present") {
		fmt.Fprintln(os.Stderr, "e2e: building the sandbox image (a few minutes, once)")
		build := exec.Command(binary, "image", "build")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return stop, fmt.Errorf("safe-install image build: %w", err)
		}
	}
	return stop, nil
}

// testEngine is SAFE_INSTALL_TEST_ENGINE: the engine every test uses, or
// "" for the rootless user's own.
var testEngine = os.Getenv("SAFE_INSTALL_TEST_ENGINE")

// localService is the user's API service when the tests started it.
var localService *exec.Cmd

func localSocket() string {
	return filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "podman", "podman.sock")
}

// startLocalService starts the user's API service on its default socket
// unless one answers there.
func startLocalService() error {
	sock := "unix://" + localSocket()
	if exec.Command("podman", "--url", sock, "version").Run() == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(localSocket()), 0o700); err != nil {
		return err
	}
	cmd := exec.Command("podman", "system", "service", "--time=0", sock)
	// A process group of its own, as the product's private service has:
	// a rootless Podman re-executes itself in the user namespace, and a
	// TERM to the first process alone left that one running (a service
	// of an earlier CI run was still there, re-parented to init, and the
	// next run's restart and fault tests found a service they had not
	// started).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting podman system service: %w", err)
	}
	localService = cmd
	for i := 0; ; i++ {
		if exec.Command("podman", "--url", sock, "version").Run() == nil {
			return nil
		}
		if i > 100 {
			return fmt.Errorf("podman system service did not answer on %s", sock)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopService ends a service startLocalService started, with every
// process of its group: TERM (Podman passes it on and cleans up), then
// KILL for what is left after ten seconds.
func stopService(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	// The group outlives its leader when the re-executed child lingers.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

func requireE2E(t testing.TB) {
	t.Helper()
	if setupErr == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("e2e environment unusable in CI: %v", setupErr)
	}
	t.Skipf("e2e environment unusable (fails in CI): %v", setupErr)
}

// leftovers lists run containers and volumes (the shared cache aside), on
// the tests' engine (CONTAINER_HOST when SAFE_INSTALL_TEST_ENGINE is set).
func leftovers() string {
	c, _ := exec.Command("podman", "ps", "-a", "--filter", "label=io.safe-install.run", "--format", "{{.Names}}").Output()
	v, _ := exec.Command("podman", "volume", "ls", "--filter", "label=io.safe-install.run", "--format", "{{.Name}}").Output()
	var left []string
	for _, n := range strings.Fields(string(c) + " " + string(v)) {
		if !strings.HasPrefix(n, "safe-install-cache-") {
			left = append(left, n)
		}
	}
	return strings.Join(left, "\n")
}

// world is one test's fake user: a HOME full of canaries with the project
// inside it (so a "../../.." escape from node_modules lands in HOME), and a
// loopback listener that no sandboxed code should reach.
type world struct {
	t        testing.TB
	home     string
	proj     string
	suffix   string   // the random part of every canary
	canaries []string // every planted secret
	env      []string
	listener *listener
	// target is what packed fixtures find in their target.json: the
	// listener's port, and whatever else a test adds.
	target map[string]any
}

func newWorld(t testing.TB) *world {
	t.Helper()
	requireE2E(t)
	root := t.TempDir()
	w := &world{t: t, home: filepath.Join(root, "home"), suffix: randomSuffix()}
	w.proj = filepath.Join(w.home, "proj")
	must(t, os.MkdirAll(filepath.Join(w.proj, "vendor"), 0o755))
	w.listener = listen(t)

	tok := "npm_SICANARY" + w.suffix + strings.Repeat("x", 12)
	files := map[string]string{
		".npmrc":           "//registry.npmjs.org/:_authToken=" + tok + "\n",
		".ssh/id_rsa":      "-----BEGIN OPENSSH PRIVATE KEY-----\nSICANARY-SSH-" + w.suffix + "\n-----END OPENSSH PRIVATE KEY-----\n",
		".aws/credentials": "[default]\naws_access_key_id = AKIASICANARY" + w.suffix + "\naws_secret_access_key = SICANARYAWSSECRET" + w.suffix + "\n",
		".bashrc":          "# the user's shell setup\n",
		"proj/.env":        "SECRET=SICANARYDOTENV" + w.suffix + "\n",
	}
	for name, body := range files {
		p := filepath.Join(w.home, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o700))
		must(t, os.WriteFile(p, []byte(body), 0o600))
	}
	w.canaries = []string{
		tok, "SICANARY-SSH-" + w.suffix, "AKIASICANARY" + w.suffix, "SICANARYAWSSECRET" + w.suffix,
		"SICANARYDOTENV" + w.suffix, "SICANARYENV" + w.suffix, "ghp_SICANARY" + w.suffix,
	}
	w.env = []string{
		"HOME=" + w.home,
		"PATH=" + os.Getenv("PATH"),
		"XDG_RUNTIME_DIR=" + os.Getenv("XDG_RUNTIME_DIR"),
		"NPM_TOKEN=SICANARYENV" + w.suffix,
		"GITHUB_TOKEN=ghp_SICANARY" + w.suffix,
		"AWS_SECRET_ACCESS_KEY=SICANARYAWSSECRET" + w.suffix,
		"CI=true",
	}
	if testEngine != "" {
		w.env = append(w.env, "CONTAINER_HOST="+testEngine)
	}
	if hostNPMMajor() >= 12 {
		// The cases need their packages' scripts to run, as a user who
		// installed safe-install so as not to review each gets: npm 12
		// would hold them back (TestE2EScriptSemanticsPerNPMMajor tests
		// that default; npmDefaultScripts goes back to it).
		w.env = append(w.env, allScriptsEnv)
	}
	return w
}

const allScriptsEnv = "SAFE_INSTALL_SANDBOX_ALL_SCRIPTS=true"

// npmDefaultScripts drops --sandbox-all-scripts: the npm in use decides.
func (w *world) npmDefaultScripts() {
	w.env = slices.DeleteFunc(w.env, func(kv string) bool { return kv == allScriptsEnv })
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pack writes testdata/corpus/npm/<name> as vendor/<name>-<version>.tgz, the
// way npm packs (a "package/" prefix), adding target.json with the
// listener's port. It returns the file: spec.
func (w *world) pack(name string) string {
	w.t.Helper()
	src := filepath.Join("testdata", "corpus", "npm", name)
	if name == "hello-addon" {
		// The example's addon is the fixture: one copy of its source.
		src = filepath.Join("..", "..", "examples", "native-addon", name)
	}
	var manifest struct{ Version string }
	data, err := os.ReadFile(filepath.Join(src, "package.json"))
	must(w.t, err)
	must(w.t, json.Unmarshal(data, &manifest))
	extra := map[string][]byte{"target.json": w.targetJSON()}
	if name == "gyp-expansion" {
		// RT-62 carries RT-01's stealer: one copy of its source.
		steal, err := os.ReadFile(filepath.Join("testdata", "corpus", "npm", "steal-canaries", "steal.js"))
		must(w.t, err)
		extra["steal.js"] = steal
	}
	rel := fmt.Sprintf("vendor/%s-%s.tgz", name, manifest.Version)
	writeTarGz(w.t, filepath.Join(w.proj, rel), "package", src, extra)
	return "file:" + rel
}

// writeTarGz packs every file below src, and extra, into file as a gzipped
// tar with every name under prefix/: how npm packs ("package/") and how an
// sdist is laid out ("name-version/").
func writeTarGz(t testing.TB, file, prefix, src string, extra map[string][]byte) {
	t.Helper()
	f, err := os.Create(file)
	must(t, err)
	defer f.Close()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	add := func(name string, body []byte) {
		must(t, tw.WriteHeader(&tar.Header{Name: prefix + "/" + name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Now()}))
		_, err := tw.Write(body)
		must(t, err)
	}
	must(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, p)
		add(filepath.ToSlash(r), body)
		return nil
	}))
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		add(name, extra[name])
	}
	must(t, tw.Close())
	must(t, gz.Close())
}

func (w *world) targetJSON() []byte {
	t := map[string]any{"port": w.listener.port}
	for k, v := range w.target {
		t[k] = v
	}
	data, err := json.Marshal(t)
	must(w.t, err)
	return data
}

// project writes package.json with the given packed dependencies.
func (w *world) project(deps ...string) {
	w.t.Helper()
	m := map[string]any{"name": "proj", "version": "1.0.0", "private": true}
	d := map[string]string{}
	for _, name := range deps {
		d[name] = w.pack(name)
	}
	if len(d) > 0 {
		m["dependencies"] = d
	}
	data, _ := json.MarshalIndent(m, "", "  ")
	must(w.t, os.WriteFile(filepath.Join(w.proj, "package.json"), data, 0o644))
}

type result struct {
	code           int
	stdout, stderr string
	peakKiB        int64  // peak RSS (bounds_e2e_test.go)
	report         string // the run's JSON report
}

// run runs safe-install in the project with the world's environment.
func (w *world) run(args ...string) result {
	w.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = w.proj
	report := filepath.Join(w.t.TempDir(), "report.json")
	cmd.Env = append(slices.Clone(w.env), "SAFE_INSTALL_REPORT="+report)
	res, err := runCmd(cmd)
	if err != nil {
		w.t.Fatalf("running safe-install: %v", err)
	}
	code := res.code
	res.peakKiB, res.report = w.checkPeakRSS(report), report
	w.t.Logf("safe-install %s: exit %d\n%s%s", strings.Join(args, " "), code, res.stdout, res.stderr)
	w.assertNoCanary("the tool's output", []byte(res.stdout+res.stderr))
	return res
}

// runCmd runs cmd and collects its exit code and output; the error is
// one that kept it from running at all.
func runCmd(cmd *exec.Cmd) (result, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code, err = ee.ExitCode(), nil
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}, err
}

// expect checks a run's exit code and that its error names each of wants.
func (w *world) expect(r result, code int, wants ...string) {
	w.t.Helper()
	if r.code != code {
		w.t.Fatalf("exit %d, want %d", r.code, code)
	}
	for _, want := range wants {
		if !strings.Contains(r.stderr, want) {
			w.t.Errorf("error does not mention %q", want)
		}
	}
}

// succeeds runs safe-install and expects it to exit 0.
func (w *world) succeeds(args ...string) result {
	w.t.Helper()
	r := w.run(args...)
	w.expect(r, 0)
	return r
}

// failsUnchanged runs safe-install, expects it to fail with code naming
// each of wants, and checks that no host file changed.
func (w *world) failsUnchanged(args []string, code int, wants ...string) result {
	w.t.Helper()
	before := w.snapshot()
	r := w.run(args...)
	w.expect(r, code, wants...)
	w.assertSame(before, w.snapshot())
	return r
}

// assertNoCanary searches data for every canary: raw, hex, and inside any
// base64 run, decoded once or twice (the Shai-Hulud double encoding).
func (w *world) assertNoCanary(where string, data []byte) {
	w.t.Helper()
	for _, c := range w.canariesIn(data) {
		w.t.Errorf("canary %s leaked into %s", c, where)
	}
}

// canariesIn lists the canaries data holds, in any of those forms.
func (w *world) canariesIn(data []byte) []string {
	var found []string
	for _, blob := range decodedForms(data, 2) {
		for _, c := range w.canaries {
			if bytes.Contains(blob, []byte(c)) || bytes.Contains(blob, []byte(hex.EncodeToString([]byte(c)))) {
				found = append(found, c)
			}
		}
	}
	return found
}

var base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{16,}={0,2}`)

func decodedForms(data []byte, depth int) [][]byte {
	out := [][]byte{data}
	if depth == 0 {
		return out
	}
	for _, m := range base64Run.FindAll(data, -1) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if dec, err := enc.DecodeString(string(m)); err == nil {
				out = append(out, decodedForms(dec, depth-1)...)
				break
			}
		}
	}
	return out
}

// assertTreeClean searches every file below dir for canaries.
func (w *world) assertTreeClean(dir string) {
	w.t.Helper()
	must(w.t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w.assertNoCanary(p, data)
		return nil
	}))
}

// engineInfoRecord is where a run records the local engine's info,
// below HOME.
const engineInfoRecord = ".cache/safe-install/engine-info.json"

// snapshot hashes every entry below HOME except the paths a run may
// change, with its type and mode.
func (w *world) snapshot(except ...string) map[string]string {
	w.t.Helper()
	return w.snapshotOf(w.home, except...)
}

// snapshotOf is snapshot for the tree below root (a virtualenv outside
// HOME, say).
func (w *world) snapshotOf(root string, except ...string) map[string]string {
	w.t.Helper()
	snap := map[string]string{}
	must(w.t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if root == w.home && (rel == engineInfoRecord || strings.HasPrefix(engineInfoRecord, rel+"/")) {
			// safe-install's own record of the engine, which a run that
			// succeeded writes, and the directories it goes in (what
			// else is in them is compared); a failed run leaves none
			// (the refused runs' snapshots cannot tell, so
			// TestLocalInfoIsRecorded checks it).
			return nil
		}
		for _, e := range except {
			if rel == e || strings.HasPrefix(rel, e+"/") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sum := ""
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(data))
		case fi.Mode()&fs.ModeSymlink != 0:
			sum, _ = os.Readlink(p)
		}
		snap[rel] = fmt.Sprintf("%v %s", fi.Mode(), sum)
		return nil
	}))
	return snap
}

func (w *world) assertSame(before, after map[string]string) {
	w.t.Helper()
	var diffs []string
	for k, v := range before {
		if after[k] != v {
			diffs = append(diffs, fmt.Sprintf("changed or removed: %s", k))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("added: %s", k))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		w.t.Errorf("host files changed:\n%s", strings.Join(diffs, "\n"))
	}
}

func (w *world) read(rel string) string {
	w.t.Helper()
	data, err := os.ReadFile(filepath.Join(w.proj, rel))
	if err != nil {
		w.t.Fatalf("reading %s: %v", rel, err)
	}
	return string(data)
}

// listener accepts TCP on 127.0.0.1 and [::1] and keeps all it receives.
type listener struct {
	port  int
	mu    sync.Mutex
	conns int
	data  bytes.Buffer
}

func listen(t testing.TB) *listener {
	l := &listener{}
	ln4, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	l.port = ln4.Addr().(*net.TCPAddr).Port
	lns := []net.Listener{ln4}
	if ln6, err := net.Listen("tcp", fmt.Sprintf("[::1]:%d", l.port)); err == nil {
		lns = append(lns, ln6)
	}
	for _, ln := range lns {
		go func(ln net.Listener) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				l.mu.Lock()
				l.conns++
				l.mu.Unlock()
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(5 * time.Second))
					b, _ := io.ReadAll(io.LimitReader(c, 1<<20))
					l.mu.Lock()
					l.data.Write(b)
					l.mu.Unlock()
				}()
			}
		}(ln)
		t.Cleanup(func() { ln.Close() })
	}
	return l
}

// assertListenerSilent checks that no connection reached the loopback
// listener.
func (w *world) assertListenerSilent() {
	w.t.Helper()
	if conns, data := w.listener.received(); conns != 0 {
		w.t.Errorf("the loopback listener got %d connections (%d bytes)", conns, len(data))
	}
}

func (l *listener) received() (int, []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns, append([]byte(nil), l.data.Bytes()...)
}

// nodeOnHost runs node in the project on the host, as the user would.
func (w *world) nodeOnHost(script string) string {
	w.t.Helper()
	cmd := exec.Command("node", "-e", script)
	cmd.Dir = w.proj
	cmd.Env = w.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("node -e %q on the host: %v\n%s", script, err, out)
	}
	return strings.TrimSpace(string(out))
}
