// Issue 15 item 10 and "Done when": axe-core (WCAG 2.0/2.1 A and AA) finds
// no serious or critical violation on any page a person can reach, every
// visible field has an accessible name, and no page scrolls sideways on a
// phone (375x667). One smartgate (--demo) for the file; each role has its
// own browser context (cookies): nobody, the demo patient, the demo
// practitioner and the administrator. A failure names the page, the axe
// rule and the elements.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchIsolatedBrowser } from '../lib/harness.js';
import { login, bodyText } from '../lib/pages.js';
import { accessibilityProblems } from '../lib/axe.js';
import { startSmartgateWithURLs, waitForOutput, adminToken, ADMIN_PASSWORD } from '../lib/support.js';

let sg;
let browser;
const ctx = {};
let demo; // { patient: {username, password}, practitioner: {…} }

before(async () => {
  sg = await startSmartgateWithURLs(['--demo']);
  await waitForOutput(sg);
  const out = sg.stdout();
  const account = (role) => {
    const m = out.match(new RegExp(`demo log-in \\(${role}\\): user (\\S+) password (\\S+)`));
    assert.ok(m, `no demo ${role} log-in printed:\n${out}`);
    return { username: m[1], password: m[2] };
  };
  demo = { patient: account('patient'), practitioner: account('practitioner') };
  browser = await launchIsolatedBrowser();
  for (const who of ['nobody', 'patient', 'practitioner', 'admin']) ctx[who] = await browser.newContext();
});
after(async () => { await browser?.close(); await sg?.stop(); });

const url = (path) => new URL(path, sg.httpURL).href;

/** A page in who's context, signed in (through /login) the first time it is needed. */
const signedIn = new Set();
async function pageAs(who) {
  const page = await ctx[who].newPage();
  if (who !== 'nobody' && !signedIn.has(who)) {
    await page.goto(url('/login'));
    const creds = who === 'admin' ? { username: 'admin', password: ADMIN_PASSWORD } : demo[who];
    await login(page, creds);
    assert.equal(await page.locator('input[name=password]').count(), 0, `${who} could not log in: ${await bodyText(page)}`);
    signedIn.add(who);
  }
  return page;
}

/** Opens path as who and checks it; status, when given, is the expected HTTP status. */
async function check(who, path, { status = 200, label } = {}) {
  const page = await pageAs(who);
  try {
    const resp = await page.goto(url(path));
    assert.equal(resp.status(), status, `${path} as ${who}: HTTP ${resp.status()}: ${await bodyText(page)}`);
    await assertAccessible(page, label || `${path} (as ${who})`);
  } finally {
    await page.close();
  }
}

async function assertAccessible(page, label) {
  const problems = await accessibilityProblems(page, label);
  if (problems.length) assert.fail(`\n${problems.join('\n')}`);
}

/** The demo app's authorization request (PKCE), whose redirect is never followed. */
function authorizeURL() {
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL(url('/oauth/authorize'));
  authorize.search = new URLSearchParams({
    response_type: 'code', client_id: 'smartgate-demo-app', redirect_uri: url('/apps/demo/'),
    scope: 'launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs',
    state: randomBytes(16).toString('base64url'), aud: url('/fhir'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  }).toString();
  return authorize.href;
}

// Signed out.

test('/ (home, signed out)', () => check('nobody', '/'));
test('/login', () => check('nobody', '/login'));
test('/login after a wrong password (the error state)', async () => {
  const page = await pageAs('nobody');
  try {
    await page.goto(url('/login'));
    await login(page, { username: 'admin', password: 'not the password' });
    assert.ok(await page.locator('input[name=password]').count() > 0, 'the log-in page again');
    await assertAccessible(page, '/login after a wrong password');
  } finally {
    await page.close();
  }
});
test('/login/code', () => check('nobody', '/login/code'));
test('error page (404: an unknown identity provider, /login/nosuch)', () => check('nobody', '/login/nosuch', { status: 404 }));

// An authorization flow: consent (patient) and the patient picker (practitioner).

test('consent page (the demo patient authorizes the demo app)', async () => {
  const page = await browser.newContext().then((c) => c.newPage());
  try {
    await page.goto(authorizeURL());
    await login(page, demo.patient);
    assert.ok(await page.locator('button[name=decision][value=approve]').count() > 0, `consent page expected: ${page.url()}: ${await bodyText(page)}`);
    await assertAccessible(page, 'consent page');
  } finally {
    await page.context().close();
  }
});

test('patient picker, then consent (the demo practitioner)', async () => {
  const page = await browser.newContext().then((c) => c.newPage());
  try {
    await page.goto(authorizeURL());
    await login(page, demo.practitioner);
    assert.ok(await page.locator('input[name=patient]').count() > 0, `patient picker expected: ${page.url()}: ${await bodyText(page)}`);
    await assertAccessible(page, 'patient picker');
    // A search that finds nobody is a page state of its own.
    const search = page.locator('input[type=search], input[name=q], input[name=name]').first();
    if (await search.count() > 0) {
      await search.fill('nobody by this name at all');
      await Promise.all([page.waitForEvent('load'), search.press('Enter')]);
      await assertAccessible(page, 'patient picker, search without results');
    }
  } finally {
    await page.context().close();
  }
});

// A signed-in person.

test('/ (home, signed in as a patient)', () => check('patient', '/'));
test('/account/apps', () => check('patient', '/account/apps'));
test('/account/security', () => check('patient', '/account/security'));
test('/account/password', () => check('patient', '/account/password'));
test('/account/links', () => check('patient', '/account/links'));
test('/account/my-apps', () => check('practitioner', '/account/my-apps'));
test('error page (403: a patient asks for /admin/clients)', () => check('patient', '/admin/clients', { status: 403 }));
test('/logout', () => check('practitioner', '/logout'));

// The console, as the administrator.

test('/ (home, signed in as the administrator)', () => check('admin', '/'));
for (const path of [
  '/admin', '/admin/clients', '/admin/clients/new', '/admin/clients/smartgate-demo-app',
  '/admin/users', '/admin/users/new', '/admin/groups', '/admin/groups/new', '/admin/launch',
  '/admin/providers', '/admin/certificates', '/admin/keys', '/admin/grants', '/admin/audit',
  '/admin/settings', '/admin/explain',
]) {
  test(path, () => check('admin', path));
}

test("a person's page (/admin/users/{id})", async () => {
  const page = await pageAs('admin');
  try {
    await page.goto(url(`/admin/users?q=${encodeURIComponent(demo.patient.username)}`));
    const link = page.locator(`[data-user-name="${demo.patient.username}"] a`).first();
    await Promise.all([page.waitForEvent('load'), link.click()]);
    assert.match(new URL(page.url()).pathname, /^\/admin\/users\/[^/]+$/);
    await assertAccessible(page, "a person's page");
  } finally {
    await page.close();
  }
});

test('a new client registered through the form (the result page)', async () => {
  const page = await pageAs('admin');
  try {
    await page.goto(url('/admin/clients/new'));
    await page.fill('[name=client_name]', 'Accessibility check app');
    await page.fill('[name=redirect_uris]', 'http://127.0.0.1:9/callback');
    await Promise.all([page.waitForEvent('load'), page.locator('form:has([name=client_name]) button:not([type=button])').first().click()]);
    assert.ok(await page.locator('[data-client-id]').count() > 0, `registration result expected: ${await bodyText(page)}`);
    await assertAccessible(page, 'client registration result');
  } finally {
    await page.close();
  }
});

test('the certificates page with a row, and its removal page', async () => {
  const page = await pageAs('admin');
  try {
    await page.goto(url('/admin/certificates'));
    await page.fill('textarea[name=pem]', readFileSync(join(sg.dataDir, 'tls', 'selfsigned-cert.pem'), 'utf8'));
    await page.fill('input[name=note]', 'the listener’s own certificate, as a sample row');
    await Promise.all([page.waitForEvent('load'), page.locator('button[name=action][value=add]').click()]);
    assert.ok(await page.locator('[data-certificate]').count() > 0, `a row expected: ${await bodyText(page)}`);
    await assertAccessible(page, '/admin/certificates with a certificate');
    await Promise.all([page.waitForEvent('load'), page.locator('[data-remove]').first().click()]);
    await assertAccessible(page, 'certificate removal page');
  } finally {
    await page.close();
  }
});

test("a group's page (/admin/groups/{id})", async () => {
  const page = await pageAs('admin');
  try {
    await page.goto(url('/admin/groups/new'));
    await page.fill('input[name=displayName]', 'Accessibility reviewers');
    await Promise.all([page.waitForEvent('load'), page.locator('form:has(input[name=displayName]) button[type=submit]').click()]);
    assert.ok(await page.locator('[data-group-id]').count() > 0, `the group's page expected: ${await bodyText(page)}`);
    await assertAccessible(page, "a group's page");
  } finally {
    await page.close();
  }
});

test('/admin/audit with a refused read, and its explanation (/admin/audit/{id}/explain)', async () => {
  // The demo patient's OWin token reads another patient's record: refused.
  const admin = await adminToken(sg.httpURL);
  const bundle = await (await fetch(url('/fhir/Patient?_count=20'), { headers: { Authorization: `Bearer ${admin}` } })).json();
  const own = sg.stdout().match(/demo patient: .+ \(Patient\/([^)]+)\)/)[1];
  const other = (bundle.entry || []).map((e) => e.resource.id).find((id) => id !== own);
  const tokenResp = await fetch(url('/oauth/token'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: demo.patient.username, password: demo.patient.password }),
  });
  const { access_token: token } = await tokenResp.json();
  const read = await fetch(url(`/fhir/Patient/${other}`), { headers: { Authorization: `Bearer ${token}` } });
  assert.ok([403, 404].includes(read.status), `refused: ${read.status}`);
  const page = await pageAs('admin');
  try {
    // The refusal's record is written by the audit batcher shortly after
    // the answer: look again for up to 10 s.
    const explain = page.locator('tr[data-audit-row] a[href*="/explain"]');
    for (let i = 0; i < 40; i++) {
      await page.goto(url('/admin/audit'));
      if (await explain.count() > 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await assertAccessible(page, '/admin/audit with records');
    assert.ok(await explain.count() > 0, `an explain link: ${await bodyText(page)}`);
    await Promise.all([page.waitForEvent('load'), explain.first().click()]);
    await assertAccessible(page, '/admin/audit/{id}/explain');
  } finally {
    await page.close();
  }
});

test('/admin/audit with a bad date (the 400 message)', () => check('admin', '/admin/audit?from=not-a-date', { status: 400 }));

test('/admin/keys after a rotation', async () => {
  const page = await pageAs('admin');
  try {
    await page.goto(url('/admin/keys'));
    const rotate = page.locator('form[method=post] button').filter({ hasText: /rotate/i });
    await Promise.all([page.waitForEvent('load'), rotate.first().click()]);
    await assertAccessible(page, '/admin/keys after a rotation');
  } finally {
    await page.close();
  }
});

test('/account/apps and /admin/grants once the demo patient has allowed the demo app', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    // The redirect to the app is not followed: its scripts are stubbed so
    // that nothing redeems the code; the consent is stored on approval.
    await page.route(`${url('/apps/demo/')}*.js`, (route) => route.fulfill({ status: 200, contentType: 'text/javascript', body: '' }));
    await page.goto(authorizeURL());
    await login(page, demo.patient);
    await Promise.all([page.waitForEvent('load'), page.locator('button[name=decision][value=approve]').click()]);
    await page.goto(url('/account/apps'));
    await assertAccessible(page, '/account/apps with an allowed app');
  } finally {
    await context.close();
  }
  const admin = await pageAs('admin');
  try {
    const resp = await admin.goto(url('/admin/grants'));
    assert.equal(resp.status(), 200, `/admin/grants: ${await bodyText(admin)}`);
    await assertAccessible(admin, '/admin/grants with a consent');
  } finally {
    await admin.close();
  }
});
