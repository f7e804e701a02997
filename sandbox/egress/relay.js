// safe-install's relay, run inside the fetch container, which has no
// network. It listens on 127.0.0.1:3128 (npm's proxy) and carries each
// connection to safe-install's egress proxy on the host as frames on its
// own stdin and stdout, and runs the command given after it when the host
// says start (the container starts while the fetch's inputs still go in).
// Frames are [id u32][type u8][length u32][payload]: 1 open, 2 data, 3
// close, and from the host 4 abort (the reason: print it and end) and 5
// start. A payload is at most 64 KiB (the host's maxRelayFrame: it stops
// the fetch on a longer one).
'use strict';
const net = require('net');
const { spawn } = require('child_process');

const OPEN = 1, DATA = 2, CLOSE = 3, ABORT = 4, START = 5;
const MAX_FRAME = 64 << 10;
const conns = new Map();
let nextID = 1;

// Backpressure: node queues what stdout does not take at once, without
// end (a flooding client queued 70 MB there in the fetch container, and
// every frame after it waited seconds). When stdout is full, every client
// is paused until it drains, so a client sends no faster than the host
// reads.
let full = false;
function frame(id, type, payload) {
  const head = Buffer.alloc(9);
  head.writeUInt32BE(id, 0);
  head.writeUInt8(type, 4);
  head.writeUInt32BE(payload ? payload.length : 0, 5);
  if (!process.stdout.write(payload ? Buffer.concat([head, payload]) : head) && !full) {
    full = true;
    for (const s of conns.values()) s.pause();
    process.stdout.once('drain', () => {
      full = false;
      for (const s of conns.values()) s.resume();
    });
  }
}

const server = net.createServer((sock) => {
  const id = nextID++;
  conns.set(id, sock);
  if (full) sock.pause();
  frame(id, OPEN);
  sock.on('data', (d) => {
    if (!conns.has(id)) return; // the host closed it
    for (let i = 0; i < d.length; i += MAX_FRAME) frame(id, DATA, d.subarray(i, i + MAX_FRAME));
  });
  sock.on('close', () => { if (conns.delete(id)) frame(id, CLOSE); });
  sock.on('error', () => {});
});

// The host writes 0x10 as 0x10 0x00 so that the engine's detach keys
// (ctrl-p ctrl-q) never occur in this stream; undo that first.
let pending = Buffer.alloc(0);
let escaped = false;
function unescape(d) {
  if (escaped) { escaped = false; d = d.subarray(1); }
  let i = d.indexOf(0x10);
  if (i < 0) return d;
  const parts = [];
  let from = 0;
  while (i >= 0) {
    parts.push(d.subarray(from, i + 1));
    from = i + 2; // skip the 0x00 that follows
    if (from > d.length) { escaped = true; break; }
    i = d.indexOf(0x10, from);
  }
  if (from < d.length) parts.push(d.subarray(from));
  return Buffer.concat(parts);
}
process.stdin.on('data', (raw) => {
  pending = Buffer.concat([pending, unescape(raw)]);
  while (pending.length >= 9) {
    const len = pending.readUInt32BE(5);
    if (pending.length < 9 + len) break;
    const id = pending.readUInt32BE(0), type = pending[4];
    const payload = pending.subarray(9, 9 + len);
    pending = pending.subarray(9 + len);
    if (type === ABORT) {
      process.stderr.write(`relay: ${payload.toString()}\n`);
      process.exit(125);
    }
    if (type === START) {
      startSaid = true;
      startCommand();
      continue;
    }
    const sock = conns.get(id);
    if (!sock) continue;
    if (type === DATA) sock.write(payload);
    else if (type === CLOSE) { conns.delete(id); sock.pause(); sock.end(() => sock.destroy()); }
  }
});

// The host ends the stream when the phase is over, or when it is gone (a
// killed safe-install): then nothing is left to carry the fetch's
// connections, and the container ends rather than outlive its run.
process.stdin.on('end', () => {
  process.stderr.write('relay: the host closed the stream\n');
  process.exit(130);
});

// The command runs once the relay listens and the host has said start.
let listening = false, startSaid = false, started = false;
function startCommand() {
  if (!listening || !startSaid || started) return;
  started = true;
  const [cmd, ...args] = process.argv.slice(2);
  // The command's output goes to stderr: stdout carries frames only.
  const child = spawn(cmd, args, { stdio: ['ignore', 2, 2] });
  child.on('error', (e) => { process.stderr.write(`relay: ${e.message}\n`); process.exit(127); });
  child.on('exit', (code, sig) => process.exit(code === null ? 128 + 9 : code));
}

// RELAY_PORT is for the host's tests, which run this beside other programs.
server.listen(Number(process.env.RELAY_PORT) || 3128, '127.0.0.1', () => {
  listening = true;
  startCommand();
});
