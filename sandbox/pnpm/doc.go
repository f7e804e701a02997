// Package pnpm is safe-install's pnpm: the plan of `pnpm install` (pnpm 12,
// fetched from the npm registry into the cache volume, never by Corepack),
// the policy of which dependencies build (allowBuilds and the like), the
// copy-back rule for pnpm's isolated node_modules and the session that
// reads pnpm's record of the builds it skipped in the fetch.
package pnpm
