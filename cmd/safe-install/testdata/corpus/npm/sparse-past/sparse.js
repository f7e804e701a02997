// Five sparse files of 1 GiB (the scripts' file size limit): no disk
// used, 5 GiB in any tar of the tree. They sit in a hidden directory of
// node_modules, outside the locations an incremental run brings back, so
// a copy-back that reads past what it does not take, unbounded, reads
// them all. One file of its own, unreadable to others, makes the
// copy-back go through the engine's archive endpoint, which sends the
// whole tree.
const fs = require('fs');
const path = require('path');

process.on('SIGXFSZ', () => {});
const dir = path.join(__dirname, '..', '.sparse-past');
fs.mkdirSync(dir, { recursive: true });
for (let i = 0; i < 5; i++) {
  const fd = fs.openSync(path.join(dir, 'zeros' + i), 'w');
  fs.ftruncateSync(fd, 2 ** 30);
  fs.closeSync(fd);
}
fs.writeFileSync(path.join(__dirname, 'private'), 'x\n');
fs.chmodSync(path.join(__dirname, 'private'), 0o600);
console.log('sparse-past: 5 GiB of holes outside every package');
