// Walks up from the virtual store to the workspace root and plants
// packages/b/node_modules/rc -> ../../../../.bashrc: four levels up from
// there is the project's parent, $HOME in the tests.
const fs = require('fs'), path = require('path');
let dir = __dirname;
while (!fs.existsSync(path.join(dir, 'pnpm-workspace.yaml')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
fs.symlinkSync('../../../../.bashrc', path.join(dir, 'packages', 'b', 'node_modules', 'rc'));
