module.exports = () => 'planted by shadow';
