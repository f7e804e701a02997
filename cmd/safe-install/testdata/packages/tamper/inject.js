const fs = require('fs');
const path = require('path');
const victim = path.join(__dirname, '..', 'victim');
try {
  fs.appendFileSync(path.join(victim, 'index.js'), ";require('http').get('http://127.0.0.1:9/rt17');\n");
  fs.writeFileSync(path.join(victim, 'extra.js'), 'module.exports = "planted";\n');
} catch (e) {
  console.error('tamper:', e.message);
}
