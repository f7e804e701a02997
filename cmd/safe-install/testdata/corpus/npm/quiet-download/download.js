// Tries two downloads the way real postinstalls do (https.get and fetch),
// gives up quietly when there is no network, and exits 0. Names under
// .example.test resolve nowhere, so nothing leaves even on a plain host.
const https = require('https');
const get = new Promise((done) => {
  https.get('https://binaries.example.test/engine-linux-x64.gz', () => done()).on('error', () => done());
});
const f = typeof fetch === 'function' ? fetch('https://mirror.example.test/engine.sha256').catch(() => {}) : Promise.resolve();
Promise.all([get, f]).then(() => process.exit(0));
