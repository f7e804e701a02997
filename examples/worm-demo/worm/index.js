module.exports = 'worm-demo: harmless';
