package sandbox

import (
	"slices"

	"github.com/safe-install/safe-install/seccomp"

	"github.com/safe-install/safe-install/sandbox/decoy"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/fetchedtree"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/seccompvol"
)

// Containers are every container a run of a plan creates, each by its
// role, from one pure place: Run creates them from here and --dry-run
// prints them, so what the user reviews is what runs.
type Containers struct {
	// Profiles copies the seccomp profiles into their volume, and is
	// never started; only a run that finds no volume of this build's
	// profiles creates it.
	Profiles engine.ContainerSpec `json:"profiles"`
	// Holder keeps the work volume's tmpfs mounted for the whole run.
	Holder engine.ContainerSpec `json:"holder"`
	Fetch  engine.ContainerSpec `json:"fetch"`
	// Baseline lists the work directory as the fetch left it, before the
	// dependencies' scripts, when the fetch did not (BaselineLater).
	Baseline *engine.ContainerSpec `json:"baseline,omitempty"`
	// Scripts runs the dependencies' scripts; nil when the plan has none.
	Scripts *engine.ContainerSpec `json:"scripts,omitempty"`
	// Listing lists the work directory between the dependencies' scripts
	// and the project's own, when both run.
	Listing *engine.ContainerSpec `json:"listing,omitempty"`
	// Project runs the project's own scripts; nil when the plan has none.
	Project *engine.ContainerSpec `json:"project,omitempty"`
	// Audit lists the decoys the scripts read, after any scripts phase.
	Audit *engine.ContainerSpec `json:"audit,omitempty"`
}

// All are the containers in about the order a run creates them (the
// holder and the fetch container at once).
func (c Containers) All() []engine.ContainerSpec {
	all := []engine.ContainerSpec{c.Profiles, c.Holder, c.Fetch}
	for _, s := range []*engine.ContainerSpec{c.Baseline, c.Scripts, c.Listing, c.Project, c.Audit} {
		if s != nil {
			all = append(all, *s)
		}
	}
	return all
}

// containerSettings are what the specs take besides the plan: the run's
// image, names, limits, seccomp profiles and decoy variables, and the
// arguments the session added to the scripts phase after the fetch.
type containerSettings struct {
	image       string
	names       Names
	limits      Limits
	profiles    Profiles
	decoyEnv    map[string]string
	scriptsArgs []string
}

// containersFor is every container spec of a run of p.
func containersFor(p *install.Plan, s containerSettings) Containers {
	n := s.names
	c := Containers{
		Profiles: profileWriterSpec(s.image, n, s.limits),
		Holder:   holderSpec(s.image, n, s.limits, s.profiles),
		Fetch:    fetchSpec(p, s.image, n, s.limits, s.profiles),
	}
	if p.Scripts != nil {
		ph := *p.Scripts
		ph.Command = append(slices.Clone(ph.Command), s.scriptsArgs...)
		spec := scriptsSpec(n.Scripts, ph, s.image, n, n.Home, s.limits, s.profiles, s.decoyEnv)
		c.Scripts = &spec
	}
	if p.BaselineLater && (p.Scripts != nil || p.ProjectScripts != nil) {
		spec := listingSpec(n.Scripts+"-baseline", FetchedListing, s.image, n, s.limits, s.profiles)
		c.Baseline = &spec
	}
	if p.ProjectScripts != nil {
		if p.Scripts != nil {
			spec := listingSpec(n.Scripts+"-hash", MidListing, s.image, n, s.limits, s.profiles)
			c.Listing = &spec
		}
		spec := scriptsSpec(n.Scripts+"-project", *p.ProjectScripts, s.image, n, n.ProjectHome, s.limits, s.profiles, s.decoyEnv)
		c.Project = &spec
	}
	if c.Scripts != nil || c.Project != nil {
		spec := decoyAuditSpec(s.image, n, c.Project != nil, s.limits, s.profiles)
		c.Audit = &spec
	}
	return c
}

// specs are this run's containers, with the scripts phase's arguments
// the session gave.
func (r *runner) specs(scriptsArgs []string) Containers {
	s := containerSettings{image: r.opts.Image, names: r.names, limits: r.opts.Limits, profiles: r.profiles, scriptsArgs: scriptsArgs}
	if r.decoys != nil {
		s.decoyEnv = r.decoys.Env()
	}
	return containersFor(r.plan, s)
}

// DryRunContainers are the containers a run of p would create, with
// placeholders for what only a run knows: its id, the engine's ID mapping,
// the profile files, the decoys, and what the session adds once the fetch
// is done (npm: the packages to rebuild). A run whose session finds
// nothing to run creates no scripts container.
func DryRunContainers(p *install.Plan, image string, lim Limits) (Containers, error) {
	n := namesFor("RUNID", p.Manager, "")
	n.Cache = "safe-install-cache-" + p.Manager + "-IDMAP"
	if p.PrivateCache {
		n.Cache = "safe-install-RUNID-cache"
	}
	var err error
	if n.ProfileVolume, _, _, err = seccompvol.Files(); err != nil {
		return Containers{}, err
	}
	prof := Profiles{}
	for _, ph := range seccomp.Phases() {
		prof[ph] = "$SECCOMP_VOLUME/" + string(ph) + ".json"
	}
	decoyEnv := map[string]string{}
	for k := range decoy.New().Env() {
		decoyEnv[k] = "$DECOY"
	}
	c := containersFor(p, containerSettings{image: image, names: n, limits: lim, profiles: prof, decoyEnv: decoyEnv})
	if p.FetchedTree {
		c.Fetch.Env = fetchedtree.DryRunEnv(c.Fetch.Env)
	}
	return c, nil
}
