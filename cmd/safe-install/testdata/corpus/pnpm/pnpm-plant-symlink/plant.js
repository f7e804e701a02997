// From <project>/node_modules/.pnpm/pnpm-plant-symlink@1.0.0/node_modules/pnpm-plant-symlink,
// six levels up is the project's parent: $HOME in the tests, so rc is
// $HOME/.bashrc on the host.
require('fs').symlinkSync('../../../../../../.bashrc', __dirname + '/rc');
