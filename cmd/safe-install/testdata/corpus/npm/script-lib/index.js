module.exports = { ok: 'script-lib ok' };
