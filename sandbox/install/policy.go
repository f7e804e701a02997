package install

// ScriptPolicy is which dependencies may run install scripts, from the
// project's own decisions (npm's allowScripts, pnpm's onlyBuiltDependencies
// and allowBuilds, Bun's trustedDependencies) and the command line. Under
// npm 12 (and with any decision under npm 11) only the allowed ones run and
// the rest are held back, named as not reviewed: npm 12's rule. Under npm
// 11 with no decision anywhere every script runs, as npm 11 does.
// AllUnreviewed (--sandbox-all-scripts) runs every script but the denied.
type ScriptPolicy struct {
	Active        bool     `json:"active"`
	Allowed       []string `json:"allowed"`      // names or name@version
	Denied        []string `json:"denied"`       // never run, even if allowed elsewhere
	NotReviewed   []string `json:"not_reviewed"` // packages with scripts the policy does not cover
	Sources       []string `json:"sources"`      // where the decisions came from
	AllUnreviewed bool     `json:"all_unreviewed,omitempty"`
	// AllowedIn is the setting the project lists allowed packages in, as
	// the summary names it ("allowScripts" when empty; pnpm's allowBuilds).
	AllowedIn string `json:"-"`
}
