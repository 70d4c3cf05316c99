// The administrators' console in a real browser (issue 15 "Done when"): a
// newcomer with `serve --demo` starts at / and reaches every console page by
// clicking links only; a non-administrator sees no console link and is
// refused every console page; the explainer names the failing step (the
// patient compartment) for a patient's token that read another patient;
// and the console works with JavaScript off. One smartgate (--demo) for the
// file; each person has their own browser context (cookies).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchIsolatedBrowser } from '../lib/harness.js';
import { login, bodyText } from '../lib/pages.js';
import { startSmartgateWithURLs, waitForOutput, adminToken, ADMIN_PASSWORD } from '../lib/support.js';

let sg;
let browser;
let demo; // { patient: {username, password, patientId}, practitioner: {username, password} }

before(async () => {
  sg = await startSmartgateWithURLs(['--demo']);
  await waitForOutput(sg);
  const out = sg.stdout();
  const account = (role) => {
    const m = out.match(new RegExp(`demo log-in \\(${role}\\): user (\\S+) password (\\S+)`));
    assert.ok(m, `no demo ${role} log-in printed:\n${out}`);
    return { username: m[1], password: m[2] };
  };
  const patient = out.match(/demo patient: .+ \(Patient\/([^)]+)\)/);
  assert.ok(patient, `no demo patient printed:\n${out}`);
  demo = { patient: { ...account('patient'), patientId: patient[1] }, practitioner: account('practitioner') };
  browser = await launchIsolatedBrowser();
});
after(async () => { await browser?.close(); await sg?.stop(); });

const url = (path) => new URL(path, sg.httpURL).href;

/** The console's sections: path, and what its h1 says. */
const SECTIONS = [
  { path: '/admin', h1: /dashboard|console|overview|smartgate/i },
  { path: '/admin/clients', h1: /clients/i },
  { path: '/admin/users', h1: /people|users/i },
  { path: '/admin/groups', h1: /groups/i },
  { path: '/admin/launch', h1: /launch/i },
  { path: '/admin/providers', h1: /providers/i },
  { path: '/admin/certificates', h1: /certificates/i },
  { path: '/admin/keys', h1: /keys/i },
  { path: '/admin/grants', h1: /grants/i },
  { path: '/admin/audit', h1: /audit/i },
  { path: '/admin/settings', h1: /settings|configuration/i },
];

/** Clicks and waits until the next document has loaded. */
async function clickAndWait(page, locator) {
  await Promise.all([page.waitForEvent('load'), locator.click()]);
}

/**
 * Clicks the link to href on the current page (the console's navigation
 * first, then any link), failing with the links the page does offer.
 */
async function follow(page, href) {
  for (const sel of [`nav.console a[href="${href}"]`, `a[href="${href}"]`]) {
    const link = page.locator(sel);
    if (await link.count() > 0) {
      await clickAndWait(page, link.first());
      return;
    }
  }
  const offered = await page.locator('a[href]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  assert.fail(`no link to ${href} on ${page.url()}; its links: ${offered.join(' ')}`);
}

/** The page's first h1, trimmed ('' when it has none). */
const h1 = (page) => page.locator('h1').evaluateAll((hs) => (hs[0]?.textContent || '').trim());

/** A fresh browser context signed in as who (through /login); returns its page. */
async function signedInPage(who, contextOptions = {}) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  await page.goto(url('/login'));
  await login(page, who);
  assert.equal(await page.locator('input[name=password]').count(), 0, `${who.username} could not log in: ${await bodyText(page)}`);
  return page;
}

const ADMIN = { username: 'admin', password: ADMIN_PASSWORD };

test('a newcomer reaches every console page from / by clicking links only', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    const resp = await page.goto(url('/'));
    assert.equal(resp.status(), 200, `/ answers a page: ${await bodyText(page)}`);
    // From here on: clicks only.
    const logIn = page.locator('a[href="/login"], a[href^="/login?"]');
    assert.ok(await logIn.count() > 0, `/ links the log-in page: ${await bodyText(page)}`);
    await clickAndWait(page, logIn.first());
    await login(page, ADMIN);
    assert.equal(await page.locator('input[name=password]').count(), 0, `the administrator logged in: ${await bodyText(page)}`);
    if (await page.locator('a[href="/admin"]').count() === 0) {
      // Landed elsewhere (the person's apps): home, then the console link.
      await follow(page, '/');
    }
    await follow(page, '/admin');
    const visited = [];
    for (const { path, h1: want } of SECTIONS) {
      if (new URL(page.url()).pathname !== path) await follow(page, path);
      assert.equal(new URL(page.url()).pathname, path, `clicked to ${path}, landed on ${page.url()}`);
      assert.match(await h1(page), want, `${path}: its h1`);
      // One navigation bar on every console page, linking every section.
      const nav = await page.locator('nav.console a[href]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      for (const s of SECTIONS) assert.ok(nav.includes(s.path), `${path}: the console navigation links ${s.path} (it has ${nav.join(' ')})`);
      assert.equal(await page.locator(`nav.console a[href="${path}"][aria-current=page]`).count(), 1, `${path}: its own link is marked aria-current=page`);
      visited.push(path);
    }
    assert.deepEqual(visited, SECTIONS.map((s) => s.path));
  } finally {
    await context.close();
  }
});

test('the console is reachable with the keyboard alone (Tab to the link, Enter)', async () => {
  const page = await signedInPage(ADMIN);
  try {
    await page.goto(url('/admin'));
    for (const target of ['/admin/keys', '/admin/audit']) {
      let found = false;
      for (let i = 0; i < 80 && !found; i++) {
        await page.keyboard.press('Tab');
        found = await page.evaluate((href) => document.activeElement?.getAttribute('href') === href, target);
      }
      assert.ok(found, `Tab reaches the link to ${target} on ${page.url()}`);
      await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
      assert.equal(new URL(page.url()).pathname, target);
    }
  } finally {
    await page.context().close();
  }
});

for (const role of ['patient', 'practitioner']) {
  test(`a non-administrator (the demo ${role}) sees no console link and is refused every console page`, async () => {
    const page = await signedInPage(demo[role]);
    try {
      const resp = await page.goto(url('/'));
      assert.equal(resp.status(), 200, `/ answers a page for everyone: ${await bodyText(page)}`);
      const consoleLinks = await page.locator('a[href^="/admin"]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
      assert.deepEqual(consoleLinks, [], `/ links no console page for the demo ${role}`);
      for (const { path } of [...SECTIONS, { path: '/admin/explain' }, { path: '/admin/clients/new' }, { path: '/admin/users/new' }]) {
        const r = await page.goto(url(path));
        const onLogin = await page.locator('input[name=password]').count() > 0;
        assert.ok(r.status() === 403 || onLogin, `${path} as the demo ${role}: HTTP ${r.status()}: ${await bodyText(page)}`);
        assert.equal(await page.locator('nav.console').count(), 0, `${path}: no console navigation for the demo ${role}`);
      }
    } finally {
      await page.context().close();
    }
  });
}

test('signed out, every console page answers the log-in page', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    for (const { path } of SECTIONS) {
      await page.goto(url(path));
      assert.ok(await page.locator('input[name=password]').count() > 0, `${path} signed out: the log-in page, got ${page.url()}: ${await bodyText(page)}`);
    }
  } finally {
    await context.close();
  }
});

test("the explainer names the failing step for a patient's token that read another patient", async () => {
  // The demo patient's OWin token (their own compartment only) reads
  // another demo patient's record: refused.
  const admin = await adminToken(sg.httpURL);
  const bundle = await (await fetch(url('/fhir/Patient?_count=20'), { headers: { Authorization: `Bearer ${admin}` } })).json();
  const other = (bundle.entry || []).map((e) => e.resource.id).find((id) => id !== demo.patient.patientId);
  assert.ok(other, `a second demo patient: ${JSON.stringify(bundle).slice(0, 300)}`);
  const tokenResp = await fetch(url('/oauth/token'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: demo.patient.username, password: demo.patient.password }),
  });
  const { access_token: token } = await tokenResp.json();
  assert.ok(token, `the demo patient's OWin token: ${tokenResp.status}`);
  const own = await fetch(url(`/fhir/Patient/${demo.patient.patientId}`), { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(own.status, 200, 'the token reads its own patient');
  const read = await fetch(url(`/fhir/Patient/${other}`), { headers: { Authorization: `Bearer ${token}` } });
  assert.ok([403, 404].includes(read.status), `another patient's record is refused: ${read.status}`);

  const page = await signedInPage(ADMIN);
  try {
    // The denied read: a row naming the other patient with an explain link
    // (written by the audit batcher shortly after the answer: look again
    // for up to 10 s).
    const rows = page.locator('tr[data-audit-row]').filter({ hasText: other }).filter({ has: page.locator('a[href*="/explain"]') });
    for (let i = 0; i < 40; i++) {
      await page.goto(url('/admin/audit'));
      if (await rows.count() > 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(await h1(page), /audit/i);
    assert.ok(await rows.count() > 0, `/admin/audit shows the denied read of Patient/${other} with an explain link: ${await bodyText(page)}`);
    const explain = rows.first().locator('a[href*="/explain"]').first();
    assert.match(await explain.getAttribute('href'), /^\/admin\/audit\/[^/]+\/explain$/);
    await clickAndWait(page, explain);
    assert.match(new URL(page.url()).pathname, /^\/admin\/audit\/[^/]+\/explain$/);
    const text = await page.locator('body').innerText();
    assert.match(text, /compartment/i, `the explanation names the patient compartment step: ${await bodyText(page)}`);
    assert.ok(text.includes(other), `the explanation names the patient read (${other})`);
  } finally {
    await page.context().close();
  }
});

test('with JavaScript off, the console pages load and a form post (key rotation) completes', async () => {
  const jwks = async () => (await (await fetch(url('/oauth/jwks'))).json()).keys.map((k) => k.kid);
  const before = await jwks();
  const page = await signedInPage(ADMIN, { javaScriptEnabled: false });
  try {
    for (const { path, h1: want } of SECTIONS) {
      const r = await page.goto(url(path));
      assert.equal(r.status(), 200, `${path} with JavaScript off: ${await bodyText(page)}`);
      assert.match(await h1(page), want, `${path}: its h1`);
    }
    await page.goto(url('/admin/keys'));
    const rotate = page.locator('form[method=post] button, form[method=POST] button, form[method=post] input[type=submit]').filter({ hasText: /rotate/i });
    assert.ok(await rotate.count() > 0, `/admin/keys has a rotate button in a POST form: ${await bodyText(page)}`);
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.startsWith('/admin/keys')),
      clickAndWait(page, rotate.first()),
    ]);
    assert.ok(resp.status() < 400, `the rotation POST answered ${resp.status()}`);
    assert.equal(new URL(page.url()).pathname.startsWith('/admin/keys'), true, `back on the keys page: ${page.url()}`);
    assert.equal(await page.locator('[role=alert]').count(), 0, `no error: ${await bodyText(page)}`);
    const afterKids = await jwks();
    assert.ok(afterKids.some((k) => !before.includes(k)), `a new key in the JWKS after rotation: before ${before}, after ${afterKids}`);
  } finally {
    await page.context().close();
  }
});
