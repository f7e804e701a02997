// On the host this would be the attacker's code; here it only says so.
module.exports = 'planted by shadow';
