package native

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/testproject"
)

func TestCheckNative(t *testing.T) {
	pure := testproject.Write(t, map[string]string{
		"node_modules/a/index.js":                    "module.exports = 1\n",
		"safe-install-wheels/a-1.0-py3-none-any.whl": "PK",
	})
	addon := testproject.Write(t, map[string]string{
		"node_modules/a/index.js":             "module.exports = 1\n",
		"node_modules/b/build/Release/b.node": "\x7fELF\x02\x01\x01",
	})
	wheel := testproject.Write(t, map[string]string{"safe-install-wheels/fast-1.0-cp311-cp311-linux_aarch64.whl": "PK"})
	other := engine.EngineInfo{Host: "ssh://u@builder/run/podman.sock", OS: "linux", Arch: "riscv64"}
	if runtime.GOARCH == "riscv64" {
		other.Arch = "s390x"
	}
	same := engine.EngineInfo{Host: "local", OS: runtime.GOOS, Arch: runtime.GOARCH}

	if err := Check(other, pure); err != nil {
		t.Errorf("pure install from another architecture: %v", err)
	}
	if err := Check(same, addon); err != nil {
		t.Errorf("native addon from this architecture: %v", err)
	}
	for dir, file := range map[string]string{addon: "node_modules/b/build/Release/b.node", wheel: "safe-install-wheels/fast-1.0-cp311-cp311-linux_aarch64.whl"} {
		err := Check(other, dir)
		if !errors.Is(err, install.ErrPolicy) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "linux/"+other.Arch) {
			t.Errorf("got %v, want a refusal naming %s", err, file)
		}
	}
}
