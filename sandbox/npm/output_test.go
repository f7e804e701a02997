package npm

import (
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
)

func TestNPMFailure(t *testing.T) {
	t.Parallel()
	log := `
> ok-pkg@1.0.0 postinstall
> node ok.js

> bad-pkg@2.1.0 postinstall
> node fail.js

bad-pkg: cannot find the frobnicator
npm error code 3
npm error path /work/node_modules/bad-pkg
npm error command failed
npm error command sh -c node fail.js
`
	pkg, cmd := npmFailure(log)
	if pkg != "bad-pkg@2.1.0" || cmd != "node fail.js" {
		t.Errorf("npmFailure = %q, %q", pkg, cmd)
	}
	if got := npmScripts(log); len(got) != 2 || got[0].Package != "ok-pkg@1.0.0" || got[1].Event != "postinstall" || got[1].Command != "node fail.js" {
		t.Errorf("npmScripts = %+v", got)
	}
	gyp := "> addon@1.0.0 install\r\n> node-gyp rebuild\r\n\n> bare@1.0.0 postinstall\n"
	if got := npmScripts(gyp); len(got) != 2 || got[0].Command != "node-gyp rebuild" || got[1].Command != "" {
		t.Errorf("npmScripts(%q) = %+v", gyp, got)
	}
}

// npm 12 announces scripts as notices.
func TestNPM12Scripts(t *testing.T) {
	t.Parallel()
	log := `npm notice run bcrypt@6.0.0 install
npm notice run node-gyp-build
npm notice run @s/tool@1.2.3 postinstall
npm notice run node install.js
fail-postinstall: cannot find the frobnicator
npm notice run fail-postinstall@2.1.0 postinstall
npm notice run node fail.js
npm error code 3
npm error path /work/node_modules/fail-postinstall
npm error command failed
npm error command sh -c node fail.js
`
	got := npmScripts(log)
	if len(got) != 3 || got[0] != (install.ScriptRun{Package: "bcrypt@6.0.0", Event: "install", Command: "node-gyp-build"}) ||
		got[1] != (install.ScriptRun{Package: "@s/tool@1.2.3", Event: "postinstall", Command: "node install.js"}) {
		t.Errorf("npmScripts = %+v", got)
	}
	if pkg, cmd := npmFailure(log); pkg != "fail-postinstall@2.1.0" || cmd != "node fail.js" {
		t.Errorf("npmFailure = %q, %q", pkg, cmd)
	}
}
