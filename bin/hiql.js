#!/usr/bin/env node
// The `hiql` command. The project is TypeScript run through tsx, so the command works right after
// `npm ci` with no build step; all logic lives in train/cli.ts.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../train/cli.ts');
process.exitCode = await main(process.argv.slice(2));
