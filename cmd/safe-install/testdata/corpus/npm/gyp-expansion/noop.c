/* An empty addon: the attack is in binding.gyp's variables. */
int noop(void) { return 0; }
