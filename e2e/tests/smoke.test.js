// The harness itself works: the real binary starts, Chromium reaches both
// listeners, and the HTTPS one serves the generated certificate.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startSmartgate, launchBrowser } from '../lib/harness.js';

let sg;
let browser;
before(async () => { sg = await startSmartgate(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await sg?.stop(); });

test('Chromium reaches /healthz on both listeners', async () => {
  const page = await browser.newPage();
  for (const base of [sg.httpURL, sg.httpsURL]) {
    const resp = await page.goto(`${base}/healthz`);
    assert.equal(resp.status(), 200);
    assert.deepEqual(JSON.parse(await page.innerText('body')), { status: 'ok' });
  }
  const resp = await page.goto(`${sg.httpsURL}/healthz`);
  const sec = await resp.securityDetails();
  assert.ok(sec, 'HTTPS response has security details');
  assert.match(sec.protocol, /TLS 1\.[23]/);
  await page.close();
});
