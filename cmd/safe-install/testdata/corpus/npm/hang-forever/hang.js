const { spawn } = require('child_process');
const fs = require('fs');
// The marker (this test's listener port) lets the test find exactly its own
// processes on the host, if any survived.
const marker = 'hang-forever-' + JSON.parse(fs.readFileSync(__dirname + '/target.json', 'utf8')).port;
spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', marker], { detached: true, stdio: 'inherit' });
setInterval(() => {}, 1e9);
