console.error('fail-postinstall: cannot find the frobnicator');
process.exit(3);
