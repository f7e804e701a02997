// Runs in pnpm, while it resolves, with the registries in reach.
require('fs').writeFileSync(require('path').join(process.cwd(), 'config-dependency-ran'), 'cjs\n');
module.exports = { hooks: {} };
