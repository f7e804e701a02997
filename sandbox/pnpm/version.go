package pnpm

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/safe-install/safe-install/sandbox/install"
)

// semverish is a pnpm version as the registry spells one; it becomes an
// argument of the fetch script, so nothing else passes.
var semverish = regexp.MustCompile(`^(\d+)\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

// minMajor is the first pnpm safe-install runs: pnpm 12 is a native
// binary with the layout fetchScript makes, and the copy-back rule knows
// its node_modules (layout version 5).
const minMajor = 12

// pnpmVersion is the pnpm to run: the packageManager field's ("pnpm@12.23.0",
// with Corepack's "+sha512.<hex>" of pnpm's tarball when given), else the
// host's. sum is that hex ("" when the field gives none).
func pnpmVersion(packageManager, host string) (version, sum string, err error) {
	switch {
	case packageManager != "":
		name, rest, _ := strings.Cut(packageManager, "@")
		if name != "pnpm" {
			return "", "", fmt.Errorf("%w: package.json's packageManager is %q, not pnpm; run that package manager instead", install.ErrPolicy, packageManager)
		}
		version, hash, hashed := strings.Cut(rest, "+")
		if hashed {
			algo, h, _ := strings.Cut(hash, ".")
			if _, err := hex.DecodeString(h); algo != "sha512" || err != nil || len(h) != 128 {
				return "", "", fmt.Errorf("%w: package.json's packageManager %q has a hash safe-install cannot check (it checks sha512.<hex>)", install.ErrPolicy, packageManager)
			}
			sum = strings.ToLower(h)
		}
		if err := checkVersion(version, "package.json's packageManager"); err != nil {
			return "", "", err
		}
		return version, sum, nil
	case host != "":
		host = strings.TrimSpace(host)
		if err := checkVersion(host, "the host's `pnpm --version`"); err != nil {
			return "", "", err
		}
		return host, "", nil
	}
	return "", "", fmt.Errorf("%w: no pnpm version to run: package.json has no packageManager field and pnpm is not on the host's PATH; "+
		"add \"packageManager\": \"pnpm@12.23.0\" to package.json (or install pnpm 12 on the host)", install.ErrPolicy)
}

func checkVersion(v, from string) error {
	m := semverish.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("%w: %s gives pnpm version %q, which is not a version", install.ErrPolicy, from, v)
	}
	if major, _ := strconv.Atoi(m[1]); major < minMajor {
		return fmt.Errorf("%w: %s gives pnpm %s; safe-install runs pnpm %d or later: set \"packageManager\": \"pnpm@12.23.0\" in package.json", install.ErrPolicy, from, v, minMajor)
	}
	return nil
}
