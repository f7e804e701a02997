const fs = require('fs');
const path = require('path');
const dir = path.join(__dirname, '..', '.prisma', 'client');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'index.js'), 'module.exports = { generated: true };\n');
