package npm

import (
	"fmt"
	"strings"

	"github.com/safe-install/safe-install/sandbox/install"
)

// gitHookInstallers are dependencies whose own install scripts write git
// hooks into the project's .git, with the command that does it on the host.
// In the sandbox there is no .git (it is never copied in), so their hooks
// are not installed: the run says so instead of leaving the user to find
// out at the next commit.
var gitHookInstallers = map[string]string{
	"husky":            "npx husky install",
	"simple-git-hooks": "npx simple-git-hooks",
	"yorkie":           "npm rebuild yorkie",
	"pre-commit":       "npm rebuild pre-commit",
	"ghooks":           "npm rebuild ghooks",
}

// gitHookNotes names each hook installer whose scripts ran in the sandbox,
// and the host command that would install its hooks.
func gitHookNotes(ran []install.ScriptRun) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ran {
		name := PolicyName(s.Package)
		cmd, ok := gitHookInstallers[name]
		if !ok || !s.Recorded || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, fmt.Sprintf("%s installs git hooks from its %s script; the sandbox has no .git, so none were written into the project's: if you trust it, run `%s` on the host",
			s.Package, strings.TrimSpace(s.Event), cmd))
	}
	return out
}
