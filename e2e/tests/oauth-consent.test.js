// OAuth core in a real browser (checklist C1, C3, F9, D1, D2): log-in →
// consent with one scope unticked → code → token without that scope. The
// client is the demo app's public client (registered by --demo); the
// redirect is intercepted so that only this test redeems the code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { launchBrowser } from '../lib/harness.js';
import { login, consentScopes, decideConsent } from '../lib/pages.js';
import { startSmartgateWithURLs } from '../lib/support.js';

let sg;
before(async () => { sg = await startSmartgateWithURLs(['--demo']); });
after(async () => { await sg?.stop(); });

const b64url = (buf) => buf.toString('base64url');

test('login, consent with one scope unticked, code, token without that scope', async () => {
  const out = sg.stdout();
  const demo = out.match(/demo log-in \(patient\): user (\S+) password (\S+)/);
  assert.ok(demo, out);
  const clientId = 'smartgate-demo-app';
  const redirectURI = `${sg.httpURL}/apps/demo/`;
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const state = b64url(randomBytes(16));
  const requested = ['openid', 'fhirUser', 'launch/patient', 'patient/Patient.rs', 'patient/Observation.rs'];
  const authorize = new URL(`${sg.httpURL}/oauth/authorize`);
  authorize.search = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: redirectURI, scope: requested.join(' '),
    state, aud: `${sg.httpURL}/fhir`, code_challenge: challenge, code_challenge_method: 'S256',
  }).toString();

  const browser = await launchBrowser();
  let redirected;
  try {
    const page = await browser.newPage();
    // Redirects are followed inside the network stack, so the redirect to
    // the client is seen as a navigation request; the client's own scripts
    // are stubbed out so that nothing but this test redeems the code.
    page.on('request', (req) => {
      const u = new URL(req.url());
      if (!redirected && req.isNavigationRequest() && u.href.startsWith(redirectURI)) redirected = u;
    });
    await page.route(`${redirectURI}*.js`, (route) => route.fulfill({ status: 200, contentType: 'text/javascript', body: '' }));
    await page.goto(authorize.href);
    assert.equal(await page.locator('input[name=username]').count(), 1, 'the log-in page is shown first');
    await login(page, { username: demo[1], password: demo[2] });
    const offered = await consentScopes(page);
    for (const s of requested) assert.ok(offered.includes(s), `consent offers ${s}: ${offered}`);
    await decideConsent(page, { uncheck: ['patient/Observation.rs'] });
    assert.ok(redirected, 'the browser was redirected to the client');
  } finally {
    await browser.close();
  }
  assert.equal(redirected.searchParams.get('state'), state, 'C3: state echoed exactly: ' + redirected.href);
  assert.equal(redirected.searchParams.get('error'), null, redirected.href);
  const code = redirected.searchParams.get('code');
  assert.ok(code, 'C1: a code');

  const resp = await fetch(`${sg.httpURL}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectURI, client_id: clientId, code_verifier: verifier }),
  });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  assert.equal(resp.headers.get('cache-control'), 'no-store');
  assert.match(body.token_type, /^bearer$/i);
  const granted = body.scope.split(' ');
  assert.ok(!granted.includes('patient/Observation.rs'), `F9: the unticked scope was not granted: ${body.scope}`);
  assert.ok(granted.includes('patient/Patient.rs'), body.scope);
  assert.ok(body.patient, 'launch/patient gives a patient context');
  // The token reads the patient but not observations.
  const auth = { Authorization: `Bearer ${body.access_token}` };
  assert.equal((await fetch(`${sg.httpURL}/fhir/Patient/${body.patient}`, { headers: auth })).status, 200);
  assert.equal((await fetch(`${sg.httpURL}/fhir/Observation?patient=${body.patient}`, { headers: auth })).status, 403);
});
