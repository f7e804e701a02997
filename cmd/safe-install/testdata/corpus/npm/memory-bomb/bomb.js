const hold = [];
for (;;) hold.push(Buffer.alloc(64 << 20, 1));
