package engine

import (
	"fmt"
	"os"
	"testing"
)

// TestMain runs this test binary as a helper process when a test started
// it as one (a fake engine of another user, a running Podman service),
// instead of as tests that would skip in every other run.
func TestMain(m *testing.M) {
	var err error
	switch {
	case os.Getenv("SAFE_INSTALL_TEST_OTHER_ENGINE") != "":
		err = otherUsersEngine(os.Getenv("SAFE_INSTALL_TEST_OTHER_ENGINE"))
	case os.Getenv("SAFE_INSTALL_TEST_SERVICE_SOCK") != "":
		err = runningService(os.Getenv("SAFE_INSTALL_TEST_SERVICE_SOCK"), os.Getenv("SAFE_INSTALL_TEST_SERVICE_BASE"))
	default:
		os.Exit(m.Run())
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
