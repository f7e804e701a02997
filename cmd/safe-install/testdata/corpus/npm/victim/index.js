module.exports = (s) => s.padStart(3);
