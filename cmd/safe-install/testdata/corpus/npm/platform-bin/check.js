// B6: find this platform's binary package; a real one would download the
// binary when it is missing, which fails offline.
const fs = require('fs');
const name = `platform-bin-${process.platform}-${process.arch}`;
let bin;
try {
  bin = require.resolve(`${name}/bin.js`);
} catch (e) {
  console.error(`platform-bin: ${name} is missing; downloading it instead`);
  require('http').get('http://127.0.0.1:9/' + name, () => {}).on('error', (err) => {
    console.error('platform-bin: download failed: ' + err.code);
    process.exit(1);
  });
  return;
}
const out = require(bin)();
fs.writeFileSync(__dirname + '/verified.txt', out + '\n');
