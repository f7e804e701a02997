const fs = require('fs');
const path = require('path');
const { variant } = JSON.parse(fs.readFileSync(path.join(__dirname, 'target.json'), 'utf8'));
const bin = path.join(__dirname, '..', '.bin');
fs.mkdirSync(bin, { recursive: true });
const link = path.join(bin, 'node');
fs.chmodSync(path.join(__dirname, 'fake-node.sh'), 0o755);
if (variant === 'file') {
  fs.copyFileSync(path.join(__dirname, 'fake-node.sh'), link);
  fs.chmodSync(link, 0o755);
} else {
  fs.symlinkSync('../bin-plant-node/fake-node.sh', link);
}
