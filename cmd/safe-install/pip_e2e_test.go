//go:build e2e

package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox"
)

// pipWorld is a world with a Python side: a PEP 503 index on loopback that
// serves the testdata/corpus/pip sdists (packed by the test) and Debian's
// setuptools and wheel wheels, a virtualenv as the host environment, and
// pip's canaries: ~/.pypirc, ~/.netrc, and PIP_INDEX_URL with a password.
type pipWorld struct {
	*world
	index  *pipIndex
	venv   string
	python string
}

func newPipWorld(t testing.TB) *pipWorld { return newPipWorldOn(t, nil) }

// newPipWorldOn is a pipWorld whose index serves TLS with tlsConf (nil:
// plain HTTP).
func newPipWorldOn(t testing.TB, tlsConf *tls.Config) *pipWorld {
	t.Helper()
	w := &pipWorld{world: newWorld(t)}
	w.index = servePipIndex(t, w.world, tlsConf)
	files := map[string]string{
		".pypirc": "[pypi]\nusername = __token__\npassword = pypi-SICANARYPYPIRC" + w.suffix + "\n",
		".netrc":  "machine 127.0.0.1 login u password SICANARYNETRC" + w.suffix + "\n",
	}
	for name, body := range files {
		must(t, os.WriteFile(filepath.Join(w.home, name), []byte(body), 0o600))
	}
	pipPassword := "SICANARYPIP" + w.suffix
	w.canaries = append(w.canaries, "SICANARYPYPIRC"+w.suffix, "SICANARYNETRC"+w.suffix, pipPassword)
	w.env = append(w.env, fmt.Sprintf("PIP_INDEX_URL=%s://u:%s@127.0.0.1:%d/simple", w.index.scheme, pipPassword, w.index.port))
	// The host environment lives outside HOME, so that HOME's snapshot
	// shows any other change.
	w.venv = filepath.Join(filepath.Dir(w.home), "venv")
	if out, err := exec.Command("python3", "-m", "venv", w.venv).CombinedOutput(); err != nil {
		t.Fatalf("python3 -m venv: %v\n%s", err, out)
	}
	w.python = filepath.Join(w.venv, "bin", "python")
	w.env = append(w.env, "VIRTUAL_ENV="+w.venv)
	return w
}

// requirements writes requirements.txt.
func (w *pipWorld) requirements(lines ...string) {
	must(w.t, os.WriteFile(filepath.Join(w.proj, "requirements.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
}

// freeze is the host environment's package list.
func (w *pipWorld) freeze() string {
	out, err := exec.Command(w.python, "-m", "pip", "freeze", "--all").CombinedOutput()
	if err != nil {
		w.t.Fatalf("pip freeze: %v\n%s", err, out)
	}
	return string(out)
}

func (w *pipWorld) pythonOnHost(code string) string {
	w.t.Helper()
	cmd := exec.Command(w.python, "-c", code)
	cmd.Env = w.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("python -c %q: %v\n%s", code, err, out)
	}
	return strings.TrimSpace(string(out))
}

// pipIndex serves /simple/<project>/ pages and /files/<file>, and keeps
// every request line and Authorization header it saw.
type pipIndex struct {
	port   int
	scheme string // http or https
	dir    string
	mu     sync.Mutex
	seen   []string
	auths  []string
}

var pipProjectName = regexp.MustCompile(`[-_.]+`)

// distProject is the PEP 503 project of an sdist or wheel file name.
func distProject(file string) string {
	name := strings.SplitN(file, "-", 2)[0]
	if !strings.HasSuffix(file, ".whl") {
		name = file[:strings.LastIndex(file, "-")]
	}
	return strings.ToLower(pipProjectName.ReplaceAllString(name, "-"))
}

func servePipIndex(t testing.TB, w *world, tlsConf *tls.Config) *pipIndex {
	t.Helper()
	idx := &pipIndex{dir: t.TempDir(), scheme: "http"}
	entries, err := os.ReadDir(filepath.Join("testdata", "corpus", "pip"))
	must(t, err)
	for _, e := range entries {
		idx.sdist(t, w, e.Name())
	}
	for _, whl := range []string{"setuptools", "wheel"} {
		matches, _ := filepath.Glob("/usr/share/python-wheels/" + whl + "-*.whl")
		if len(matches) == 0 {
			t.Fatalf("no %s wheel in /usr/share/python-wheels: install python3-%s-whl (make setup does)", whl, whl)
		}
		data, err := os.ReadFile(matches[0])
		must(t, err)
		must(t, os.WriteFile(filepath.Join(idx.dir, filepath.Base(matches[0])), data, 0o644))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	idx.port = ln.Addr().(*net.TCPAddr).Port
	if tlsConf != nil {
		ln, idx.scheme = tls.NewListener(ln, tlsConf), "https"
	}
	srv := &http.Server{Handler: idx, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return idx
}

// sdist packs testdata/corpus/pip/<name-version> as name-version.tar.gz, with
// target.json (the listener's port) added, as the npm fixtures get it.
func (idx *pipIndex) sdist(t testing.TB, w *world, dir string) {
	name, version := dir[:strings.LastIndex(dir, "-")], dir[strings.LastIndex(dir, "-")+1:]
	writeTarGz(t, filepath.Join(idx.dir, dir+".tar.gz"), dir, filepath.Join("testdata", "corpus", "pip", dir), map[string][]byte{
		"target.json": []byte(fmt.Sprintf(`{"port": %d}`, w.listener.port)),
		"PKG-INFO":    []byte("Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n"),
	})
}

func (idx *pipIndex) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	idx.mu.Lock()
	idx.seen = append(idx.seen, r.Method+" "+r.URL.RequestURI())
	idx.auths = append(idx.auths, r.Header.Get("Authorization"))
	idx.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/files/"):
		http.ServeFile(rw, r, filepath.Join(idx.dir, filepath.Base(r.URL.Path)))
	case strings.HasPrefix(r.URL.Path, "/simple/"):
		project := strings.Trim(strings.TrimPrefix(r.URL.Path, "/simple/"), "/")
		entries, _ := os.ReadDir(idx.dir)
		var links []string
		for _, e := range entries {
			if distProject(e.Name()) == project {
				links = append(links, fmt.Sprintf(`<a href="/files/%s">%s</a>`, e.Name(), e.Name()))
			}
		}
		if len(links) == 0 {
			http.NotFound(rw, r)
			return
		}
		fmt.Fprintf(rw, "<!DOCTYPE html><html><body>\n%s\n</body></html>\n", strings.Join(links, "<br>\n"))
	default:
		http.NotFound(rw, r)
	}
}

func (idx *pipIndex) requests() ([]string, []string) {
	idx.mu.Lock()
	defer idx.mu.Unlock()
	return append([]string(nil), idx.seen...), append([]string(nil), idx.auths...)
}

// B4 and a dependency chain: a C extension built in the sandbox imports in
// the host's Python, a -> b -> c all arrive, only wheels came back, and the
// index's credential reached the index (added by the egress proxy) but no
// container.
func TestE2EPipCExtensionAndChain(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B4/B12", "benign: C extension, dynamic build reqs, chain", "works"})
	w := newPipWorld(t)
	w.requirements("fastext==1.0", "chain-a==1.0")
	r := w.succeeds("pip", "--json", "install", "-r", "requirements.txt")
	if got := w.pythonOnHost("import fastext, chain_c; print(fastext.add(40, 2), chain_c.NAME)"); got != "42 chain-c" {
		t.Errorf("host python printed %q", got)
	}
	// Installed is the manager's own summary; for pip it lists the packages.
	var rep struct {
		sandbox.Report
		Installed *struct {
			Packages []string `json:"packages"`
		} `json:"installed"`
	}
	must(t, json.Unmarshal([]byte(r.stdout), &rep))
	if !rep.OK || rep.Installed == nil {
		t.Fatalf("report: %+v", rep)
	}
	for _, want := range []string{"fastext==1.0", "chain_a==1.0", "chain_b==1.0", "chain_c==1.0"} {
		if !slices.Contains(rep.Installed.Packages, want) {
			t.Errorf("installed %v, want %s", rep.Installed.Packages, want)
		}
	}
	var built []string
	for _, ph := range rep.Phases {
		for _, s := range ph.Scripts {
			if s.Event == "build_wheel" {
				built = append(built, ph.Name+":"+s.Package)
			}
		}
	}
	if !slices.Contains(built, "scripts:fastext==1.0") || !slices.Contains(built, "scripts:chain-c==1.0") {
		t.Errorf("report's wheel builds: %v", built)
	}
	// The build takes each sdist's build requirements and metadata from
	// the fetch (pipenvs.py's reuse_metadata): the only hook it runs is
	// build_wheel, and the fetch ran the metadata hooks.
	var fetchMeta []string
	for _, ph := range rep.Phases {
		for _, s := range ph.Scripts {
			switch {
			case ph.Name == "scripts" && s.Event != "build_wheel":
				t.Errorf("the build ran %s for %s again", s.Event, s.Package)
			case ph.Name == "fetch" && s.Event == "prepare_metadata":
				fetchMeta = append(fetchMeta, s.Package)
			}
		}
	}
	if !slices.Contains(fetchMeta, "fastext==1.0") || !slices.Contains(fetchMeta, "chain-c==1.0") {
		t.Errorf("the fetch's metadata hooks: %v, want fastext's and chain-c's", fetchMeta)
	}
	if fmt.Sprint(rep.Egress.Contacted) != fmt.Sprintf("[127.0.0.1:%d]", w.index.port) {
		t.Errorf("contacted %v, want only the index", rep.Egress.Contacted)
	}
	seen, auths := w.index.requests()
	if len(seen) == 0 || auths[0] == "" {
		t.Errorf("the index saw %d requests, the first without the credential the proxy should add", len(seen))
	}
	if !slices.ContainsFunc(seen, func(s string) bool { return strings.Contains(s, "/simple/wheel/") }) {
		t.Errorf("the fetch never asked for wheel, the dynamic build requirement: %v", seen)
	}
	w.assertTreeClean(w.venv)
	if entries, _ := filepath.Glob(filepath.Join(w.proj, ".safe-install-*")); len(entries) > 0 {
		t.Errorf("staging left behind: %v", entries)
	}
}

// B18: a build requirement that is itself an sdist, whose metadata hook
// takes 1.5 s. The fetch downloads each new set of build requirements
// while pip installs the same set, so two pips prepare slow-buildreq at
// once; when they shared pip's build tracker the second one failed
// ("is already being built": the fetch failed, exit 1 or 2) every time
// here, and on the bench's quick wheels now and then (c48e9ee, reverted).
// The offline build then builds with it in its environment.
func TestE2EPipSdistBuildRequirement(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B18", "benign: an sdist build requirement with a slow metadata hook", "works"})
	w := newPipWorld(t)
	w.requirements("needs-slow-buildreq==1.0")
	r := w.succeeds("pip", "--json", "install", "-r", "requirements.txt")
	if got := w.pythonOnHost("import needs_slow_buildreq as n; print(n.NAME)"); got != "needs-slow-buildreq" {
		t.Errorf("host python printed %q", got)
	}
	if strings.Contains(r.stderr, "already being built") {
		t.Errorf("a pip found the other's build tracker note:\n%s", r.stderr)
	}
	// slow-buildreq is a build requirement only: it is not installed.
	for _, line := range strings.Fields(w.freeze()) {
		if name, _, _ := strings.Cut(line, "=="); strings.EqualFold(strings.ReplaceAll(name, "_", "-"), "slow-buildreq") {
			t.Errorf("the build requirement was installed on the host: %s", line)
		}
	}
}

// The build phase builds wheels at once (pipenvs.py's build_at_once): two
// sdists whose builds each take 1 s record when they ran in their wheels,
// and the spans overlap; one after the other they never could.
func TestE2EPipBuildsAtOnce(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B19", "benign: two sdists built at once, offline", "works"})
	if runtime.NumCPU() < 2 {
		skipOrFail(t, "one core: the build phase builds one wheel after another, so no overlap can be shown")
	}
	w := newPipWorld(t)
	w.requirements("at-once-a==1.0", "at-once-b==1.0")
	r := w.succeeds("pip", "install", "-r", "requirements.txt")
	if !strings.Contains(r.stderr, "at-once-a==1.0 build_wheel") || !strings.Contains(r.stderr, "at-once-b==1.0 build_wheel") {
		t.Errorf("the run did not report both builds:\n%s", r.stderr)
	}
	var a, b [2]float64
	spans := w.pythonOnHost("from at_once_a.span import SPAN as a; from at_once_b.span import SPAN as b; print(*a, *b)")
	if _, err := fmt.Sscan(spans, &a[0], &a[1], &b[0], &b[1]); err != nil {
		t.Fatalf("spans %q: %v", spans, err)
	}
	if a[0] >= b[1] || b[0] >= a[1] {
		t.Errorf("the builds ran one after the other: a %v, b %v", a, b)
	}
}

// RT-05/RT-33: a setup.py that steals in both phases (metadata in the fetch,
// the build offline) gets nothing: the listener hears nothing, and the loot
// it stashed in its own wheel holds no canary.
func TestE2EPipStealerGetsNothing(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-05/33", "pip: setup.py stealer in fetch and build, IMDS", "nothing secret copied in; relay-only / lo only"})
	w := newPipWorld(t)
	w.requirements("pip-stealer==1.0")
	before := w.snapshot()
	w.succeeds("pip", "install", "-r", "requirements.txt")
	if n, data := w.listener.received(); n != 0 || len(data) != 0 {
		t.Errorf("the listener got %d connections, %d bytes", n, len(data))
	}
	site := w.pythonOnHost("import pip_stealer, os; print(os.path.dirname(pip_stealer.__file__))")
	probe, err := os.ReadFile(filepath.Join(site, "probe.json"))
	must(t, err)
	var p struct {
		Sends []string          `json:"sends"`
		Files map[string]string `json:"files"`
	}
	must(t, json.Unmarshal(probe, &p))
	if len(p.Sends) < 6 {
		t.Errorf("the stealer tried only %d sends: %v", len(p.Sends), p.Sends)
	}
	for _, s := range p.Sends {
		if strings.HasSuffix(s, ": sent") {
			t.Errorf("a send succeeded inside the sandbox: %s", s)
		}
	}
	w.assertTreeClean(w.venv)
	w.assertSame(before, w.snapshot())
	_, data := w.listener.received()
	w.assertNoCanary("the listener", data)
}

// RT-06/RT-20/RT-22: an in-tree backend that writes outside its build dir
// and ships a .pth that runs code: the .pth is refused naming the package,
// nothing is installed, and the host is as it was.
func TestE2EPipPthRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-06/20/22", "pip: in-tree backend, .pth persistence, writes outside", "wheel vetting (exit 10)"})
	w := newPipWorld(t)
	w.requirements("evil-backend==1.0")
	frozen := w.freeze()
	r := w.failsUnchanged([]string{"pip", "install", "-r", "requirements.txt"}, exitArtifact,
		"evil_backend==1.0", "evil_init.pth", "--allow-pth")
	_ = r
	if got := w.freeze(); got != frozen {
		t.Errorf("pip freeze changed:\n%s\nwas:\n%s", got, frozen)
	}
	if _, err := os.Stat(filepath.Join(w.home, ".cache", "pth-ran")); err == nil {
		t.Error("the .pth payload ran on the host")
	}
}

// A failing build: the error names the package and shows its output; the
// host environment is unchanged.
func TestE2EPipFailingBuild(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"invariant 8 (pip)", "failing wheel build", "host env unchanged (exit 11)"})
	w := newPipWorld(t)
	w.requirements("chain-c==1.0", "fail-build==1.0")
	frozen := w.freeze()
	w.failsUnchanged([]string{"pip", "install", "-r", "requirements.txt"}, exitScript,
		"wheel build of fail-build==1.0", "the compiler exploded")
	if got := w.freeze(); got != frozen {
		t.Errorf("pip freeze changed:\n%s\nwas:\n%s", got, frozen)
	}
}

// RT-64 (pip): a failing build whose output copies pip's own lines about
// another package is named, and the other is not blamed.
func TestE2EPipFailureBlamesTheFailingBuild(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-64 (pip)", "failing build prints pip's lines for another package", "names blame-shift (exit 11)"})
	w := newPipWorld(t)
	w.requirements("chain-c==1.0", "blame-shift==1.0")
	r := w.failsUnchanged([]string{"pip", "install", "-r", "requirements.txt"}, exitScript, "wheel build of blame-shift==1.0")
	if strings.Contains(r.stderr, "wheel build of chain-c") {
		t.Errorf("the failure blames chain-c:\n%s", r.stderr)
	}
}

// An index option in requirements.txt is refused before anything runs,
// naming the file and line; --allow-index lets it through.
func TestE2EPipIndexInRequirementsNeedsAllowing(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"F4 (pip)", "requirements.txt adds an index", "plan: --allow-index (exit 14)"})
	w := newPipWorld(t)
	extra := fmt.Sprintf("--extra-index-url http://127.0.0.1:%d/simple", w.index.port)
	w.requirements(extra, "chain-c==1.0")
	w.failsUnchanged([]string{"pip", "install", "-r", "requirements.txt"}, exitPolicy, "requirements.txt:1", "--allow-index")
	if r := w.run("pip", "--allow-index", "install", "-r", "requirements.txt"); r.code != 0 {
		t.Fatalf("with --allow-index: exit %d", r.code)
	}
	if got := w.pythonOnHost("import chain_c; print(chain_c.NAME)"); got != "chain-c" {
		t.Errorf("chain_c printed %q", got)
	}
}

// RT-56: a build that waits for the network (a retry loop of connections,
// a urlopen without timeout) is stopped at --timeout, named, with a hint
// that builds have no network; the host environment is unchanged and the
// listener hears nothing.
func TestE2EPipBuildWaitingForTheNetwork(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-56", "pip: a build waiting for the network", "no network in the build; wall-time limit (exit 12)"})
	w := newPipWorld(t)
	w.requirements("net-wait==1.0")
	frozen := w.freeze()
	w.failsUnchanged([]string{"pip", "--timeout", "40s", "install", "-r", "requirements.txt"}, exitTimeout,
		"net-wait", "time limit", "no network")
	if got := w.freeze(); got != frozen {
		t.Errorf("pip freeze changed:\n%s\nwas:\n%s", got, frozen)
	}
	w.assertListenerSilent()
}

// RT-61: setup.py's top level, run while pip prepares metadata in the
// fetch phase, tries to use the allowed index as an exit (POST, PUT, GETs
// carrying what it gathered). The egress proxy refuses all but GET and
// HEAD, so the index never sees another method, and nothing it could
// gather holds a secret.
func TestE2EPipMetadataHookCannotUseTheIndex(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-61", "pip: metadata hook posts to the allow-listed index", "egress proxy: GET/HEAD only, credentials only on the host"})
	w := newPipWorld(t)
	w.requirements("index-exfil==1.0")
	r := w.succeeds("pip", "--json", "install", "-r", "requirements.txt")
	var rep sandbox.Report
	must(t, json.Unmarshal([]byte(r.stdout), &rep))
	refused := map[string]bool{}
	for _, x := range rep.Egress.Refused {
		refused[x.Method] = true
	}
	if !refused["POST"] || !refused["PUT"] {
		t.Errorf("the proxy refused %+v; want the hook's POST and PUT (is the case armed?)", rep.Egress.Refused)
	}
	seen, _ := w.index.requests()
	for _, s := range seen {
		if method, _, _ := strings.Cut(s, " "); method != "GET" && method != "HEAD" {
			t.Errorf("the index saw %q", s)
		}
	}
	w.assertNoCanary("the index's request log", []byte(strings.Join(seen, "\n")))
}
