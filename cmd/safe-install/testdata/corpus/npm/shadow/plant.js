// Plants a module named optional-ext (which optional-user loads when it is
// present), or a stand-in for victim, in one of the ways Node's resolver
// finds it. The variant comes from target.json.
const fs = require('fs');
const path = require('path');
const { variant } = JSON.parse(fs.readFileSync(path.join(__dirname, 'target.json'), 'utf8'));
const nm = path.join(__dirname, '..');
const payload = path.join(__dirname, 'payload');

function plantPackage(dir) {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['package.json', 'index.js']) fs.copyFileSync(path.join(payload, f), path.join(dir, f));
}

switch (variant) {
  case 'toplevel': // a new node_modules/<name> that no lockfile entry installs
    plantPackage(path.join(nm, 'optional-ext'));
    break;
  case 'nested': // inside another package's own node_modules
    plantPackage(path.join(nm, 'optional-user', 'node_modules', 'optional-ext'));
    break;
  case 'deep': // a node_modules directory deeper inside that package
    plantPackage(path.join(nm, 'optional-user', 'lib', 'node_modules', 'optional-ext'));
    fs.writeFileSync(path.join(nm, 'optional-user', 'lib', 'uses.js'), "module.exports = require('optional-ext');\n");
    break;
  case 'file': // node_modules/<name>.js: require('<name>') finds the file first
    fs.copyFileSync(path.join(payload, 'index.js'), path.join(nm, 'optional-ext.js'));
    break;
  case 'symlink': // a symlink that stays inside node_modules
    fs.symlinkSync('shadow/payload', path.join(nm, 'optional-ext'));
    break;
  case 'replace': // another package's directory swapped for a symlink to ours
    fs.rmSync(path.join(nm, 'victim'), { recursive: true, force: true });
    fs.symlinkSync('shadow/fake-victim', path.join(nm, 'victim'));
    break;
  default:
    throw new Error('unknown variant ' + variant);
}
