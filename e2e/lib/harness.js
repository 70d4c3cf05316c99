// Test harness for smartgate's browser tests: builds and starts the real
// smartgate binary on free loopback ports with a fresh data folder, and
// launches Debian's Chromium (headless) through playwright-core with a
// fresh profile. Nothing here reaches beyond 127.0.0.1.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

let builtBinary;

/** Builds ./cmd/smartgate once per test process and returns its path. */
export function buildSmartgate() {
  if (builtBinary) return builtBinary;
  const dir = mkdtempSync(join(tmpdir(), 'smartgate-e2e-bin-'));
  builtBinary = join(dir, 'smartgate');
  execFileSync('go', ['build', '-o', builtBinary, './cmd/smartgate'], { cwd: repoRoot, stdio: 'inherit' });
  return builtBinary;
}

/**
 * Starts smartgate with extra args and env; resolves when the listeners
 * named (default both) are up. Returns { httpURL, httpsURL, dataDir,
 * stdout(), stop() }.
 */
export async function startSmartgate({ args = [], env = {}, listeners = ['http', 'https'] } = {}) {
  const bin = buildSmartgate();
  const dataDir = mkdtempSync(join(tmpdir(), 'smartgate-e2e-data-'));
  const proc = spawn(bin, ['serve', '--data', dataDir, '--http-addr', '127.0.0.1:0', '--https-addr', '127.0.0.1:0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const addrs = await new Promise((resolveAddrs, reject) => {
    const found = {};
    const timer = setTimeout(() => reject(new Error(`smartgate did not start:\n${err}`)), 30000);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`smartgate exited ${code}:\n${err}`)); });
    proc.stdout.on('data', (d) => {
      out += d;
      for (const m of out.matchAll(/smartgate (https?) listening on (\S+)/g)) found[m[1]] = m[2];
      if (listeners.every((l) => found[l])) { clearTimeout(timer); resolveAddrs(found); }
    });
  });
  proc.removeAllListeners('exit');
  const httpPort = addrs.http?.split(':').pop();
  const httpsPort = addrs.https?.split(':').pop();
  return {
    httpURL: httpPort && `http://127.0.0.1:${httpPort}`,
    httpsURL: httpsPort && `https://127.0.0.1:${httpsPort}`,
    dataDir,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.on('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * Starts Chromium with start(); a failure to start is tried again, up to
 * three times. Chromium occasionally fails to start on a busy machine (seen
 * in CI here: a SIGSEGV before the first page, "Target page, context or
 * browser has been closed", and once a start that hung until the file's
 * 180 s timeout). A start gets 40 s (Playwright's default is 180 s); a
 * failure after the browser is up is the test's own.
 */
async function startWithRetries(start) {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath}: install the Debian package "chromium" (scripts/test does)`);
  }
  let lastErr;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await start();
    } catch (err) {
      lastErr = err;
      process.stderr.write(`launchBrowser: attempt ${attempt} failed: ${String(err.message).split('\n')[0]}\n`);
    }
  }
  throw lastErr;
}

/**
 * Launches headless Chromium with a fresh profile (see startWithRetries);
 * returns a BrowserContext.
 */
export async function launchBrowser() {
  return startWithRetries(async () => {
    const profile = mkdtempSync(join(tmpdir(), 'smartgate-e2e-profile-'));
    try {
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: chromiumPath,
        headless: true,
        ignoreHTTPSErrors: true,
        timeout: 40_000,
        args: CHROMIUM_ARGS,
      });
      const close = context.close.bind(context);
      context.close = async () => { await close(); rmSync(profile, { recursive: true, force: true }); };
      return context;
    } catch (err) {
      rmSync(profile, { recursive: true, force: true });
      throw err;
    }
  });
}

/**
 * Launches headless Chromium without a profile (see startWithRetries) for
 * tests that need several browsers at once that share nothing (cookies,
 * storage): each newContext() is one such browser, and cheap. Returns
 * { newContext(), close() }; contexts accept the listeners' self-signed
 * certificates as launchBrowser's do.
 */
export async function launchIsolatedBrowser() {
  const browser = await startWithRetries(() => chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    timeout: 40_000,
    args: CHROMIUM_ARGS,
  }));
  return {
    newContext: (options = {}) => browser.newContext({ ignoreHTTPSErrors: true, ...options }),
    close: () => browser.close(),
  };
}
