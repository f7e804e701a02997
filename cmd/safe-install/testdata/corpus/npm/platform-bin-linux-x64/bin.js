module.exports = () => 'binary for linux x64';
