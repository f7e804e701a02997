let ext = null;
try {
  ext = require('optional-ext');
} catch (e) {
  // not installed: fine
}
module.exports = { ext };
