// B5: a postinstall that needs the network (a prebuilt binary, a browser).
// It fetches from the test's loopback port and exits 1 when it cannot.
const fs = require('fs');
const path = require('path');
const { port } = JSON.parse(fs.readFileSync(path.join(__dirname, 'target.json'), 'utf8'));
require('http').get(`http://127.0.0.1:${port}/blob.bin`, (res) => {
  res.pipe(fs.createWriteStream(path.join(__dirname, 'blob.bin')));
}).on('error', (e) => {
  console.error(`needs-network: download failed: ${e.code}`);
  process.exit(1);
});
