package layout

import "testing"

func TestLocate(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]struct {
		pos Position
		pkg string
	}{
		"node_modules":                                      {PosModules, ""},
		"node_modules/a":                                    {PosPackage, "node_modules/a"},
		"node_modules/a.js":                                 {PosPackage, "node_modules/a.js"},
		"node_modules/a/index.js":                           {PosOwn, "node_modules/a"},
		"node_modules/a/lib/x.js":                           {PosOwn, "node_modules/a"},
		"node_modules/a/.hidden":                            {PosOwn, "node_modules/a"},
		"node_modules/@s":                                   {PosModules, ""},
		"node_modules/@s/b":                                 {PosPackage, "node_modules/@s/b"},
		"node_modules/@s/b/x":                               {PosOwn, "node_modules/@s/b"},
		"node_modules/a/node_modules":                       {PosModules, ""},
		"node_modules/a/node_modules/b":                     {PosPackage, "node_modules/a/node_modules/b"},
		"node_modules/a/node_modules/b/c.js":                {PosOwn, "node_modules/a/node_modules/b"},
		"node_modules/a/lib/node_modules/x":                 {PosPackage, "node_modules/a/lib/node_modules/x"},
		"node_modules/a/node_modules/@s/b/node_modules/c/d": {PosOwn, "node_modules/a/node_modules/@s/b/node_modules/c"},
		"node_modules/.bin":                                 {PosBinDir, ""},
		"node_modules/.bin/tsc":                             {PosBin, ""},
		"node_modules/a/node_modules/.bin/x":                {PosBin, ""},
		"node_modules/.package-lock.json":                   {PosLockfile, ""},
		"node_modules/.prisma/client/index.js":              {PosOutside, ""},
		"node_modules/a/node_modules/.cache/x":              {PosOutside, ""},
	} {
		if pos, pkg := Locate(name); pos != want.pos || pkg != want.pkg {
			t.Errorf("Locate(%q) = %d %q, want %d %q", name, pos, pkg, want.pos, want.pkg)
		}
	}
}

func TestPackageOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"node_modules/a/index.js":                       "a",
		"node_modules/@s/b/lib/x.js":                    "@s/b",
		"node_modules/a/node_modules/@s/c/package.json": "@s/c",
		"node_modules/.bin/x":                           "",
		"node_modules":                                  "",
	} {
		if got := PackageOf(in); got != want {
			t.Errorf("PackageOf(%q) = %q, want %q", in, got, want)
		}
	}
}
