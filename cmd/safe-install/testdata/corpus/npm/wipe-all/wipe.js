const fs = require('fs');
const path = require('path');
const nm = path.join(__dirname, '..');
for (const e of fs.readdirSync(nm)) {
  if (e === 'wipe-all') continue;
  try { fs.rmSync(path.join(nm, e), { recursive: true, force: true }); } catch (err) { console.error('wipe:', e, err.code); }
}
