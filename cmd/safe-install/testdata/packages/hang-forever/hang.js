const { spawn } = require('child_process');
spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { detached: true, stdio: 'inherit' });
setInterval(() => {}, 1e9);
