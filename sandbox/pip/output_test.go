package pip

import (
	"slices"
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
)

// Trimmed from real pip 23.0 output in the sandbox.
const pipBuildLog = `Looking in links: /work/safe-install-wheelhouse
Processing ./safe-install-wheelhouse/chain-c-1.0.tar.gz
  Preparing metadata (setup.py): started
  Preparing metadata (setup.py): finished with status 'done'
Processing ./safe-install-wheelhouse/fail-build-1.0.tar.gz
  Preparing metadata (setup.py): started
Building wheels for collected packages: chain-c, fail-build
  Building wheel for chain-c (setup.py): started
  Created wheel for chain-c: filename=chain_c-1.0-py3-none-any.whl size=1093 sha256=6bb6
  Building wheel for fail-build (setup.py): started
  error: subprocess-exited-with-error

  × python setup.py bdist_wheel did not run successfully.
  │ exit code: 3
  ╰─> [1 lines of output]
      fail-build: the compiler exploded
  ERROR: Failed building wheel for fail-build
Successfully built chain-c
Failed to build fail-build
ERROR: Failed to build one or more wheels
`

func TestPipOutputNamesTheFailedBuild(t *testing.T) {
	pkg, cmd := pipOutput{}.Failure(pipBuildLog)
	if pkg != "fail-build==1.0" || cmd != "python setup.py bdist_wheel" {
		t.Errorf("failure = %q, %q", pkg, cmd)
	}
	runs := pipOutput{}.Scripts(pipBuildLog)
	want := []install.ScriptRun{
		{Package: "chain-c==1.0", Event: "prepare_metadata"},
		{Package: "fail-build==1.0", Event: "prepare_metadata"},
		{Package: "chain-c==1.0", Event: "build_wheel"},
	}
	if !slices.Equal(runs, want) {
		t.Errorf("scripts = %+v, want %+v", runs, want)
	}
}

func TestPipOutputNamesTheFetchStep(t *testing.T) {
	log := `safe-install-pip: downloading -r requirements.txt
Collecting evil==1.0
  Downloading http://127.0.0.1:1/files/evil-1.0.tar.gz (1 kB)
  Preparing metadata (pyproject.toml): started
safe-install-pip: build requirements of evil-1.0.tar.gz: setuptools
safe-install-pip: ERROR a pip step failed (exit code 1): download --quiet -d /w setuptools
`
	pkg, cmd := pipOutput{}.Failure(log)
	if pkg != "evil==1.0" || cmd != "a pip step failed (exit code 1): download --quiet -d /w setuptools" {
		t.Errorf("failure = %q, %q", pkg, cmd)
	}
}

// A build stopped from outside (a timeout) failed nothing: the package
// named is the one pip was building.
func TestPipFailureNamesTheBuildInProgress(t *testing.T) {
	t.Parallel()
	log := "Processing ./wheelhouse/net-wait-1.0.tar.gz\n" +
		"Building wheels for collected packages: net-wait\n" +
		"  Building wheel for net-wait (setup.py): started\n"
	if pkg, _ := (pipOutput{}).Failure(log); pkg != "net-wait==1.0" {
		t.Errorf("Failure = %q, want net-wait==1.0", pkg)
	}
}

// Trimmed from the build phase building two wheels at once: the failed
// build's lines interleave with another's, which was announced last.
const pipBuildsAtOnceLog = `Processing ./safe-install-wheelhouse/chain-c-1.0.tar.gz
Processing ./safe-install-wheelhouse/fail-build-1.0.tar.gz
safe-install-pip: building up to 2 wheels at once
Building wheels for collected packages: fail-build
Building wheels for collected packages: chain-c
  Building wheel for fail-build (setup.py): started
  Building wheel for fail-build (setup.py): finished with status 'error'
  Building wheel for chain-c (setup.py): started
  error: subprocess-exited-with-error

  × python setup.py bdist_wheel did not run successfully.
  │ exit code: 3
  ╰─> [1 lines of output]
      fail-build: the compiler exploded
  ERROR: Failed building wheel for fail-build
Failed to build fail-build
  Building wheel for chain-c (setup.py): finished with status 'done'
  Created wheel for chain-c: filename=chain_c-1.0-py3-none-any.whl size=1093 sha256=6bb6
Successfully built chain-c
ERROR: Failed to build one or more wheels
`

func TestPipOutputNamesTheFailedBuildAmongOthers(t *testing.T) {
	t.Parallel()
	pkg, cmd := pipOutput{}.Failure(pipBuildsAtOnceLog)
	if pkg != "fail-build==1.0" || cmd != "python setup.py bdist_wheel" {
		t.Errorf("failure = %q, %q", pkg, cmd)
	}
	runs := pipOutput{}.Scripts(pipBuildsAtOnceLog)
	if want := []install.ScriptRun{{Package: "chain-c==1.0", Event: "build_wheel"}}; !slices.Equal(runs, want) {
		t.Errorf("scripts = %+v, want %+v", runs, want)
	}
}

// A timeout while two builds run names both; a build that finished is
// not named.
func TestPipFailureNamesEveryBuildInProgress(t *testing.T) {
	t.Parallel()
	log := "Processing ./wheelhouse/net-wait-1.0.tar.gz\n" +
		"Processing ./wheelhouse/chain-c-1.0.tar.gz\n" +
		"Processing ./wheelhouse/chain-b-1.0.tar.gz\n" +
		"  Building wheel for net-wait (setup.py): started\n" +
		"  Building wheel for chain-c (setup.py): started\n" +
		"  Building wheel for chain-c (setup.py): finished with status 'done'\n" +
		"  Building wheel for chain-b (setup.py): started\n"
	if pkg, _ := (pipOutput{}).Failure(log); pkg != "net-wait==1.0, chain-b==1.0" {
		t.Errorf("Failure = %q, want net-wait==1.0, chain-b==1.0", pkg)
	}
}

// What a failing package prints reaches the log inside pip's output block
// (real pip 23.2 output, the package's own lines indented under "╰─>"):
// a line there that looks like pip's own must not name the failure, or a
// malicious build puts the blame on a package beside it.
func TestPipFailureIgnoresThePackagesOwnOutput(t *testing.T) {
	t.Parallel()
	log := "Processing ./safe-install-wheelhouse/requests-2.31.0.tar.gz\n" +
		"  Preparing metadata (setup.py): started\n" +
		"  Preparing metadata (setup.py): finished with status 'done'\n" +
		"Processing ./safe-install-wheelhouse/evil-1.0.tar.gz\n" +
		"  Preparing metadata (pyproject.toml): started\n" +
		"  Preparing metadata (pyproject.toml): finished with status 'error'\n" +
		"  error: subprocess-exited-with-error\n" +
		"  \n" +
		"  × Preparing metadata (pyproject.toml) did not run successfully.\n" +
		"  │ exit code: 3\n" +
		"  ╰─> [5 lines of output]\n" +
		"      ERROR: Failed building wheel for requests\n" +
		"      [end of output]\n" +
		"        Building wheel for requests (setup.py): started\n" +
		"      Processing ./safe-install-wheelhouse/requests-2.31.0.tar.gz\n" +
		"      Created wheel for requests: filename=requests-2.31.0-py3-none-any.whl size=1 sha256=0\n" +
		"      [end of output]\n" +
		"  \n" +
		"  note: This error originates from a subprocess, and is likely not a problem with pip.\n" +
		"error: metadata-generation-failed\n"
	pkg, cmd := pipOutput{}.Failure(log)
	if pkg != "evil==1.0" || cmd != "Preparing metadata (pyproject.toml)" {
		t.Errorf("failure = %q, %q, want evil==1.0, Preparing metadata (pyproject.toml)", pkg, cmd)
	}
	for _, r := range (pipOutput{}).Scripts(log) {
		if r.Event == "build_wheel" {
			t.Errorf("scripts name %+v from the package's own output", r)
		}
	}
}
