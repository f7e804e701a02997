package fetchedtree

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"maps"

	"github.com/safe-install/safe-install/sandbox/install"
)

// Use is one fetch's use of the cache.
type Use struct {
	rec             Records
	key, sum, nonce string
	// known: these inputs were fetched before. A first fetch saves no
	// archive (tar and b2sum of the bench's 108 MB tree cost 0.5-1 s, the
	// cold npm ci's margin): inputs fetched once are often never fetched
	// again (a fresh CI machine), and the second fetch saves.
	known bool
}

// Begin prepares the fetch of plan p in image to use the archives of the
// cache volume named volume on the engine at host (engine.EngineInfo's
// Host: engines with the same ID mapping have volumes of the same name),
// recorded below cacheDir (os.UserCacheDir when "");
// nil when the plan does not opt in (or uses a cache of its own, which
// ends with the run).
func Begin(p *install.Plan, image, volume, host, cacheDir string) (*Use, error) {
	if !p.FetchedTree || p.PrivateCache {
		return nil, nil
	}
	key, err := Key(p, image)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(host))
	rec, err := Open(cacheDir, volume+"-"+hex.EncodeToString(h[:4]))
	if err != nil {
		return nil, err
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	sum, seen := rec.Lookup(key)
	return &Use{rec: rec, key: key, sum: sum, nonce: hex.EncodeToString(b), known: seen && rec.Client != ""}, nil
}

// Env is the fetch container's environment env with the archive's key and
// its recorded sum.
func (u *Use) Env(env map[string]string) map[string]string {
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	env[EnvKey], env[EnvSum], env[EnvNonce] = "", u.sum, u.nonce
	if u.known {
		env[EnvKey] = u.key + "-" + u.rec.Client
	}
	return env
}

// DryRunEnv is the fetch's environment env as --dry-run shows it: what only
// a run knows as placeholders.
func DryRunEnv(env map[string]string) map[string]string {
	env = maps.Clone(env)
	env[EnvKey], env[EnvSum], env[EnvNonce] = "$FETCHED_TREE_KEY", "$FETCHED_TREE_SUM", "$NONCE"
	return env
}

// Outcome reads what the fetch did from its output.
func (u *Use) Outcome(output string) Outcome {
	if !u.known {
		return Outcome{First: true}
	}
	return Parse(output, u.nonce)
}

// Record keeps the records true after a run that succeeded (a failed run
// changes nothing on the host): a first fetch is noted, a saved archive's
// sum is recorded, a restored one's record kept fresh.
func (u *Use) Record(o Outcome) error {
	switch {
	case o.First, o.Doubtful:
		// A doubtful save leaves its inputs seen, not saved: the next
		// fetch saves again.
		return u.rec.MarkSeen(u.key)
	case o.Saved != "":
		return u.rec.Put(u.key, o.Saved)
	case o.Restored:
		u.rec.Touch(u.key)
	}
	return nil
}
