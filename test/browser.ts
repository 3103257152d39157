// Headless Chromium for the browser tests: Debian's chromium (.ci/run installs it), with the flags
// this machine's closed network needs and a fresh profile folder.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** A persistent Chromium context on a new profile (`prefix` names its temporary folder, removed on close). */
export async function launchChromium(prefix: string, o: { viewport?: { width: number; height: number } } = {}): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), prefix));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
    ...(o.viewport ? { viewport: o.viewport } : {}),
  });
  context.on('close', () => {
    // Chromium may still be writing its profile as the context closes: retry, and leave a temporary
    // folder behind rather than fail a test over it.
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch {
      // left in the system's temporary folder
    }
  });
  return context;
}
