module.exports = () => 'binary for darwin arm64';
