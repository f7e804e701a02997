// RT-52: disk fill, inode exhaustion and a sparse bomb. Everything here is
// written inside the container; what must hold is that the host's disk
// does not drop by much more than safe-install's --disk limit.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { variant } = require('./target.json');

// The file size rlimit turns a too-large write or truncate into EFBIG, and
// SIGXFSZ, which would otherwise end the process before it tries the rest.
process.on('SIGXFSZ', () => {});

// (c) a 1 TiB sparse file: no blocks, but a copy-back that trusted sizes
// would write a terabyte.
try {
  const fd = fs.openSync(path.join(__dirname, 'sparse'), 'w');
  fs.ftruncateSync(fd, 2 ** 40);
  fs.closeSync(fd);
  console.log('sparse: 1 TiB');
} catch (e) {
  console.log('sparse: ' + e.code);
}

const chunk = Buffer.alloc(1 << 20, 0x5a);
const fill = (dir) => {
  // (a) and (d): 64 MiB files until the disk (or something) stops it; up
  // to 50 GiB.
  fs.mkdirSync(dir, { recursive: true });
  let written = 0;
  for (let f = 0; written < 50 * 1024; f++) {
    const fd = fs.openSync(path.join(dir, 'big' + f), 'w');
    for (let i = 0; i < 64; i++, written++) fs.writeSync(fd, chunk);
    fs.closeSync(fd);
  }
};

switch (variant) {
  case 'work':
    fill(path.join(__dirname, 'fill'));
    break;
  case 'home':
    fill(path.join(os.homedir(), 'fill'));
    break;
  case 'files':
  case 'home-files': {
    // (b) two million empty files.
    const dir = path.join(variant === 'files' ? __dirname : os.homedir(), 'many');
    fs.mkdirSync(dir);
    for (let i = 0; i < 2e6; i++) {
      if (i % 10000 === 0) fs.mkdirSync(path.join(dir, 'd' + i));
      fs.closeSync(fs.openSync(path.join(dir, 'd' + (i - (i % 10000)), 'f' + i), 'w'));
    }
    break;
  }
}
console.log('disk-fill finished without being stopped');
