package pnpm

import (
	"slices"
	"testing"

	"github.com/safe-install/safe-install/sandbox/npm"
)

// The cooldown checks the registry packages of pnpm-lock.yaml, each at its
// registry, and nothing that has no publication time (git, a directory,
// a file: tarball, a URL that is not a registry's).
func TestLockedPackages(t *testing.T) {
	t.Parallel()
	lock := `lockfileVersion: '9.0'
packages:
  left-pad@1.3.0:
    resolution: {integrity: sha512-a}
  '@scope/pkg@2.0.0':
    resolution: {integrity: sha512-b, tarball: 'https://npm.corp.example/@scope/pkg/-/pkg-2.0.0.tgz'}
  react-dom@18.2.0(react@18.2.0):
    resolution: {integrity: sha512-c}
  from-git@https://codeload.github.com/x/y/tar.gz/abc:
    resolution: {tarball: 'https://codeload.github.com/x/y/tar.gz/abc'}
  gitpkg@1.0.0:
    resolution: {type: git, repo: 'https://github.com/x/y', commit: abc}
  local@file:vendor/local.tgz:
    resolution: {integrity: sha512-d, tarball: 'file:vendor/local.tgz'}
  dir@1.0.0:
    resolution: {type: directory, directory: ../dir}
  /old-style@0.1.0:
    resolution: {integrity: sha512-e}
`
	got, err := lockedPackages([]byte(lock), "https://registry.npmjs.org/")
	if err != nil {
		t.Fatal(err)
	}
	want := []npm.Locked{
		{Name: "@scope/pkg", Version: "2.0.0", Registry: "https://npm.corp.example/"},
		{Name: "left-pad", Version: "1.3.0", Registry: "https://registry.npmjs.org/"},
		{Name: "old-style", Version: "0.1.0", Registry: "https://registry.npmjs.org/"},
		{Name: "react-dom", Version: "18.2.0", Registry: "https://registry.npmjs.org/"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("lockedPackages =\n%v\nwant\n%v", got, want)
	}
	if _, err := lockedPackages([]byte("packages: [\n"), ""); err == nil {
		t.Error("a lockfile that does not parse passed")
	}
}
