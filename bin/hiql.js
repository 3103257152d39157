#!/usr/bin/env node
// The `hiql` command. The project is TypeScript run through tsx, so the command works right after
// `npm ci` with no build step; the dispatcher is cli/main.ts.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
