// Loaded into every node process of the scripts phases (NODE_OPTIONS
// --require): it notes each host name or address a script tries to reach,
// with the package whose script runs (npm's npm_package_* variables), so
// that the run can name what a script wanted from the network even when
// the script carries on without it. Scripts have no network here (only
// lo); this changes no answer. It is read-only for the scripts.
'use strict';
const fs = require('fs');
const path = require('path');
const dns = require('dns');
const net = require('net');
const log = process.env.SAFE_INSTALL_NETLOG;
let written = 0;
function note(host, how) {
  host = String(host || '');
  if (!log || !host || host === 'localhost' || host === '::1' || host.startsWith('127.') || written > 200) return;
  written++;
  const pkg = (process.env.npm_package_name || '?') + '@' + (process.env.npm_package_version || '?');
  try {
    fs.mkdirSync(path.dirname(log), { recursive: true });
    fs.appendFileSync(log, JSON.stringify({ package: pkg, host: host.slice(0, 253), how }) + '\n');
  } catch (e) {
    // a full or read-only disk: the note is lost, nothing else
  }
}
const lookup = dns.lookup;
dns.lookup = function (host, ...rest) {
  note(host, 'dns');
  return lookup.call(this, host, ...rest);
};
if (dns.promises) {
  const plookup = dns.promises.lookup;
  dns.promises.lookup = function (host, ...rest) {
    note(host, 'dns');
    return plookup.call(this, host, ...rest);
  };
}
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const o = args[0];
  const host = typeof o === 'object' && o !== null && !Array.isArray(o) ? o.host : typeof args[1] === 'string' ? args[1] : undefined;
  if (host && net.isIP(host)) note(host, 'connect');
  return connect.apply(this, args);
};
