// Package npm is npm's part in a sandboxed install: how `npm ci` and `npm
// install` become a install.Plan (the sanitised .npmrc, the registries,
// the script policy, the publication-age check), and the session that
// holds what npm fetched to the copy-back rule (tree.go): every entry of
// node_modules is explained by the fetched lockfile, by the directory of a
// package whose scripts ran, or is refused.
//
// It imports neither the engine nor Podman: the pipeline (package
// sandbox) runs the containers and calls the session's hooks.
package npm
