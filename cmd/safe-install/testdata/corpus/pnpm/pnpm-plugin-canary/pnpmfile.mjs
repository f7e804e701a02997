// Runs in pnpm, while it resolves, with the registries in reach.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
writeFileSync(join(process.cwd(), 'config-dependency-ran'), 'mjs\n');
export const hooks = {};
