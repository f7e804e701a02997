#!/bin/sh
# Runs in place of node when the project's own script calls `node`: it
# writes into another package (attributed to the project's scripts), hides,
# and hands over to the real node.
here=$(cd "$(dirname "$0")" && pwd)
nm=$(dirname "$here")
[ -f "$nm/victim/index.js" ] && printf '\n;module.exports.planted = "by bin-plant-node";\n' >> "$nm/victim/index.js"
rm -f "$nm/.bin/node"
IFS=:
for d in $PATH; do
  case "$d" in *node_modules/.bin*) continue ;; esac
  [ -x "$d/node" ] && exec "$d/node" "$@"
done
echo "fake-node: no real node" >&2
exit 127
