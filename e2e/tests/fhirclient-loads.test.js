// The vendored SMART client (static/vendor/fhirclient) loads and runs in
// Chromium under a strict Content-Security-Policy, in the test app served
// by e2e/lib/apphost.js from its own origin and in the bundled demo app
// (static/apps/demo), and starts SMART discovery at the FHIR base it is
// given. The full launches are in standalone-launch, ehr-launch and
// demo-app.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from '../lib/harness.js';
import { startSmartgateWithURLs } from '../lib/support.js';
import { startAppHost, readAppResult } from '../lib/apphost.js';

let sg;
let host;
let browser;
before(async () => {
  [sg, host, browser] = await Promise.all([startSmartgateWithURLs(), startAppHost(), launchBrowser()]);
});
after(async () => {
  await browser?.close();
  await host?.stop();
  await sg?.stop();
});

// Opens a page that records Content-Security-Policy violations and
// uncaught errors (Chromium reports the former on the console).
async function watchedPage() {
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  return { page, problems };
}

const discovery = (iss) => `${iss}/.well-known/smart-configuration`;

test('the vendored fhirclient loads in the test app and defines FHIR.oauth2.authorize and ready', async () => {
  const { page, problems } = await watchedPage();
  await page.goto(host.launchURL());
  const api = await page.evaluate(() => ({
    authorize: typeof window.FHIR?.oauth2?.authorize,
    ready: typeof window.FHIR?.oauth2?.ready,
    init: typeof window.FHIR?.oauth2?.init,
    client: typeof window.FHIR?.client,
  }));
  assert.deepEqual(api, { authorize: 'function', ready: 'function', init: 'function', client: 'function' });
  // Without a client id the test app reports the problem instead of launching.
  const result = await readAppResult(page);
  assert.equal(result.status, 'error');
  assert.match(result.error, /clientId is required/);
  assert.deepEqual(problems, []);
  await page.close();
});

test('authorize() in the test app (its own origin) discovers smartgate at the iss it is given and goes to its authorization endpoint', async () => {
  assert.notEqual(new URL(host.origin).port, new URL(sg.httpURL).port, 'app and smartgate are different origins');
  const { page, problems } = await watchedPage();
  const iss = `${sg.httpURL}/fhir`;
  const scope = 'launch/patient openid fhirUser patient/Patient.rs';
  const discovered = page.waitForRequest(discovery(iss));
  const authorizing = page.waitForRequest((r) => r.url().startsWith(`${sg.httpURL}/oauth/authorize?`) && r.isNavigationRequest());
  await page.goto(host.launchURL({ clientId: 'fhirclient-loads', scope, iss }));
  const req = await discovered;
  assert.equal(req.method(), 'GET');
  assert.ok(req.frame().url().startsWith(`${host.origin}/launch`), `asked by the app page, not ${req.frame().url()}`);
  // Discovery answered the app's origin (CORS) and named the endpoint.
  const auth = new URL((await authorizing).url());
  assert.equal(auth.searchParams.get('client_id'), 'fhirclient-loads');
  assert.equal(auth.searchParams.get('scope'), scope);
  assert.equal(auth.searchParams.get('aud'), iss);
  assert.equal(auth.searchParams.get('response_type'), 'code');
  assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
  assert.deepEqual(problems, []);
  await page.close();
});

test('demo app, standalone launch: reads config.json and discovers the FHIR server at its own origin /fhir', async () => {
  host.demoConfig = { clientId: 'demo-app' };
  const { page, problems } = await watchedPage();
  const discovered = page.waitForRequest(discovery(`${host.origin}/fhir`));
  await page.goto(`${host.demoURL}launch.html`);
  await discovered;
  // apphost is not a FHIR server: the launch fails, and the page says so.
  await page.locator('[data-testid=error]').waitFor({ state: 'visible' });
  assert.notEqual((await page.locator('[data-testid=error]').textContent()).trim(), '');
  assert.equal(await page.locator('[data-testid=status]').textContent(), 'The launch failed.');
  assert.ok(host.requests.includes('GET /apps/demo/config.json'), 'config.json was fetched');
  assert.ok(host.requests.includes('GET /static/vendor/fhirclient/fhir-client.pure.min.js'), 'vendored fhirclient was loaded');
  assert.deepEqual(problems, []);
  await page.close();
});

test('demo app, EHR launch: uses the iss of the launch request', async () => {
  host.demoConfig = { clientId: 'demo-app', scope: 'openid fhirUser patient/Patient.rs' };
  const { page, problems } = await watchedPage();
  const iss = `${host.origin}/fhir`;
  const discovered = page.waitForRequest(discovery(iss));
  await page.goto(`${host.demoURL}launch.html?iss=${encodeURIComponent(iss)}&launch=abc123`);
  await discovered;
  await page.locator('[data-testid=error]').waitFor({ state: 'visible' });
  assert.deepEqual(problems, []);
  await page.close();
});

test('demo app refuses an iss on another origin and never contacts it', async () => {
  host.demoConfig = { clientId: 'demo-app' };
  const { page, problems } = await watchedPage();
  const other = `${sg.httpURL}/fhir`;
  const contacted = [];
  page.on('request', (r) => { if (r.url().startsWith(sg.httpURL)) contacted.push(r.url()); });
  await page.goto(`${host.demoURL}launch.html?iss=${encodeURIComponent(other)}&launch=abc123`);
  await page.locator('[data-testid=error]').waitFor({ state: 'visible' });
  assert.match(await page.locator('[data-testid=error]').textContent(), /refusing to launch against/);
  assert.deepEqual(contacted, []);
  assert.deepEqual(problems, []);
  await page.close();
});

test('demo app without a client id in config.json says so', async () => {
  host.demoConfig = {};
  const { page, problems } = await watchedPage();
  await page.goto(`${host.demoURL}launch.html`);
  await page.locator('[data-testid=error]').waitFor({ state: 'visible' });
  assert.equal(await page.locator('[data-testid=error]').textContent(), 'config.json has no clientId');
  assert.deepEqual(problems, []);
  await page.close();
});

test('demo app redirect page opened without a launch asks to launch again', async () => {
  const { page, problems } = await watchedPage();
  await page.goto(host.demoURL);
  await page.locator('[data-testid=error]').waitFor({ state: 'visible' });
  assert.match(await page.locator('[data-testid=error]').textContent(), /launch/i);
  assert.equal(await page.locator('[data-testid=status]').textContent(), 'Something went wrong.');
  assert.deepEqual(problems, []);
  await page.close();
});

test('demo app with a stored SMART session shows server data as text only, and each section fails on its own', async () => {
  const { page, problems } = await watchedPage();
  // fhirclient keeps its state in sessionStorage (SMART_KEY -> state). A
  // state with a token is "already authorized": ready() makes no exchange.
  const hostile = '<img src=x data-hostile=1>';
  await page.goto(`${host.demoURL}launch.html?iss=${encodeURIComponent('http://127.0.0.1:1/fhir')}`); // refused, no navigation
  await page.evaluate(({ serverUrl, scope }) => {
    sessionStorage.setItem('SMART_KEY', JSON.stringify('k1'));
    sessionStorage.setItem('k1', JSON.stringify({
      key: 'k1', clientId: 'demo-app', serverUrl, scope,
      tokenResponse: { access_token: 'not-a-real-token', token_type: 'bearer', patient: 'p1', scope },
    }));
  }, { serverUrl: `${host.origin}/fhir`, scope: `patient/Patient.rs ${hostile}` });
  const fhirReads = [];
  page.on('request', (r) => { if (r.url().startsWith(`${host.origin}/fhir/`)) fhirReads.push(new URL(r.url())); });
  await page.goto(host.demoURL);
  await page.locator('[data-testid=status]').filter({ hasText: 'Loaded.' }).waitFor();
  // apphost has no FHIR server: every read fails, each in its own section.
  for (const id of ['conditions', 'medications', 'observations']) {
    assert.match(await page.locator(`[data-testid=${id}]`).textContent(), /Not available/);
  }
  assert.equal(await page.locator('[data-testid=patient-name]').textContent(), 'Patient p1');
  assert.match(await page.locator('[data-testid=session]').textContent(), /<img src=x data-hostile=1>/);
  assert.equal(await page.locator('[data-hostile]').count(), 0, 'server text is never parsed as HTML');
  assert.deepEqual(fhirReads.map((u) => u.pathname).sort(),
    ['/fhir/Condition', '/fhir/MedicationRequest', '/fhir/Observation', '/fhir/Patient/p1']);
  const obs = fhirReads.find((u) => u.pathname === '/fhir/Observation').searchParams;
  assert.deepEqual([obs.get('patient'), obs.get('_sort'), obs.get('_count')], ['p1', '-date', '10']);
  assert.deepEqual(problems, []);
  await page.close();
});
