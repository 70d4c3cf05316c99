// Federated log-in (issue 12) in a real browser, through a real OpenID
// provider that nobody here wrote (panva's oidc-provider, lib/oidcprovider.js):
// provisioning auto, invite (with the link confirmed at /login/link after
// logging in to the existing account) and trusted_email, ending with the
// real fhirclient app holding smartgate's id_token for the linked account;
// administrator-issued sign-in codes, used once; and forged, foreign,
// replayed and misdirected callbacks refused with 400.
//
// One smartgate, three providers (one per smartgate provider id, each its
// own issuer, since an identity is (issuer, subject)), one app host and one
// Chromium for the file; each person's browser is a fresh context (so the
// provider's own session does not carry over). The tests build on each
// other, in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchIsolatedBrowser } from '../lib/harness.js';
import { startAppHost, completeAuthorization, readAppResult, login, bodyText } from '../lib/apphost.js';
import { startOIDCProvider, providerLogIn, jwtClaims, ACCOUNTS } from '../lib/oidcprovider.js';
import {
  startSmartgateWithURLs, freePort, adminToken, registerPublicClient, createScimUser, findScimUsers, scim,
  SCIM_SMARTGATE_USER, ADMIN_PASSWORD,
} from '../lib/support.js';

// The smartgate providers: id -> the file's settings besides the endpoints.
const PROVIDERS = {
  'op-auto': { display_name: 'E2E Auto OP', provisioning: 'auto', trusted_email: false },
  'op-invite': { display_name: 'E2E Invite OP', provisioning: 'invite', trusted_email: false },
  'op-trusted': { display_name: 'E2E Trusted OP', provisioning: 'invite', trusted_email: true },
};
const PASSWORD = 'a local password for e2e 0123';
const APP_SCOPE = 'openid fhirUser profile';

let sg;
let host;
let browser;
let token; // the administrator's OWin token (SCIM, registration)
let clientId; // the SMART test app
let sgIssuer; // smartgate's OpenID issuer, as its SMART configuration says
let configDir;
const op = {}; // provider id -> the running oidc-provider

before(async () => {
  // smartgate's URLs go into each provider's redirect URIs and the
  // providers' issuers into smartgate's file: ports first.
  const ports = [await freePort(), await freePort()];
  const bases = [`http://127.0.0.1:${ports[0]}`, `https://127.0.0.1:${ports[1]}`];
  for (const id of Object.keys(PROVIDERS)) {
    // On localhost: another site than smartgate (127.0.0.1), as a real
    // provider is, so the way back is a cross-site navigation.
    op[id] = await startOIDCProvider({ redirectURIs: bases.map((b) => `${b}/login/${id}/callback`), hostname: 'localhost' });
  }
  const env = {};
  const providers = Object.entries(PROVIDERS).map(([id, p]) => {
    const secretEnv = `E2E_${id.replace(/-/g, '_').toUpperCase()}_SECRET`;
    env[secretEnv] = op[id].clientSecret;
    return {
      id, type: 'oidc', preset: 'none', issuer: op[id].issuer, client_id: op[id].clientId,
      client_secret_env: secretEnv, scopes: ['openid', 'email', 'profile'], ...p,
    };
  });
  configDir = mkdtempSync(join(tmpdir(), 'smartgate-e2e-config-'));
  const configFile = join(configDir, 'smartgate.yaml');
  writeFileSync(configFile, JSON.stringify({ providers }, null, 2)); // JSON is YAML
  [sg, host, browser] = await Promise.all([
    startSmartgateWithURLs(['--config', configFile], { ports, env }),
    startAppHost(),
    launchIsolatedBrowser(),
  ]);
  token = await adminToken(sg.httpURL);
  clientId = await registerPublicClient(sg.httpURL, token, {
    client_name: 'e2e federated log-in test app', redirect_uris: [host.callbackURL], scope: APP_SCOPE,
  });
  const smart = await (await fetch(`${sg.httpURL}/fhir/.well-known/smart-configuration`)).json();
  sgIssuer = smart.issuer;
  assert.ok(sgIssuer, `smart-configuration has an issuer: ${JSON.stringify(smart)}`);
});
after(async () => {
  await browser?.close();
  await host?.stop();
  await sg?.stop();
  for (const p of Object.values(op)) await p.stop();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

// ---- helpers -------------------------------------------------------------

/** A fresh browser (context) and its page. */
async function person() {
  const context = await browser.newContext();
  return { context, page: await context.newPage() };
}

const sgURL = (path) => new URL(path, sg.httpURL).href;
const pathOf = (u) => new URL(u).pathname;
const isCallback = (id) => (r) => pathOf(r.url()) === `/login/${id}/callback`;
const onSmartgate = (u) => u.origin === new URL(sg.httpURL).origin;

/** The number of local accounts (SCIM totalResults). */
async function countUsers() {
  return (await findScimUsers(sg.httpURL, token)).totalResults;
}

/** The SCIM User with this id. */
async function scimUser(id) {
  const { status, body } = await scim(sg.httpURL, token, 'GET', `/Users/${id}`);
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

/** The identities linked to a SCIM User (smartgate extension). */
const identitiesOf = (user) => user[SCIM_SMARTGATE_USER]?.identities || [];

/** Whether user has the identity (provider id, account) linked. */
const hasIdentity = (user, id, account) => identitiesOf(user).some((i) =>
  i.provider === id && i.issuer === op[id].issuer && i.subject === account);

/**
 * On smartgate's log-in page: clicks the provider's button, logs in on the
 * provider as account, and returns smartgate's answer to the callback (the
 * browser is back on smartgate, on what that answer led to).
 */
async function viaProvider(page, id, account) {
  const button = page.locator(`a[href^="/login/${id}"]`);
  assert.equal(await button.count(), 1, `the log-in page has one button for ${id}: ${await bodyText(page)}`);
  await Promise.all([page.waitForEvent('load'), button.click()]);
  const callbacks = [];
  const seen = (r) => { if (isCallback(id)(r)) callbacks.push(r); };
  page.on('response', seen);
  try {
    await providerLogIn(page, op[id].issuer, account);
  } finally {
    page.off('response', seen);
  }
  assert.equal(callbacks.length, 1, `one callback to smartgate; at ${page.url()}: ${await bodyText(page)}`);
  return callbacks[0];
}

/** From the log-in page, a log-in through provider id as account; returns the callback's answer. */
async function federatedLogIn(page, id, account) {
  await page.goto(sgURL('/login'));
  return viaProvider(page, id, account);
}

/** Asserts that the browser has no smartgate session: /account/apps asks it to log in. */
async function assertNoSession(page) {
  await page.goto(sgURL('/account/apps'));
  assert.ok(await page.locator('input[name=password]').count() > 0, `a session after a refusal: ${page.url()}: ${await bodyText(page)}`);
}

/** Asserts that the browser has a smartgate session: /account/apps is shown. */
async function assertSession(page) {
  await page.goto(sgURL('/account/apps'));
  assert.equal(pathOf(page.url()), '/account/apps', `no session: ${page.url()}: ${await bodyText(page)}`);
  assert.equal(await page.locator('input[name=password]').count(), 0, `no session: ${await bodyText(page)}`);
}

/** Asserts a refusal page: the status, a message, and no session. */
async function assertRefused(page, resp, status) {
  assert.equal(resp.status(), status, `${resp.url()}: ${await bodyText(page)}`);
  assert.ok(onSmartgate(new URL(page.url())), page.url());
  assert.equal(await page.locator('[role=alert]').count(), 1, `the page explains: ${await bodyText(page)}`);
  assert.match(await page.locator('[role=alert]').textContent(), /\S/);
  await assertNoSession(page);
}

/**
 * A standalone launch of the SMART test app (the real fhirclient) in page:
 * when smartgate asks for a log-in, logIn(page) does it (none expected when
 * not given: the browser has a session). Returns the app's results and the
 * claims of the id_token it holds.
 */
async function launchApp(page, { logIn } = {}) {
  await page.goto(host.launchURL({ clientId, scope: APP_SCOPE, iss: `${sg.httpURL}/fhir` }));
  await completeAuthorization(page, {
    appOrigin: host.origin,
    done: (u) => u.href.startsWith(host.callbackURL),
    logIn: logIn || (async () => { throw new Error(`smartgate asked for a log-in: ${await bodyText(page)}`); }),
    other: async (p, url) => {
      if (!Object.values(op).some((o) => o.issuer === url.origin)) return false;
      throw new Error(`an unexpected page of the provider: ${url.href}: ${await bodyText(p)}`);
    },
  });
  const result = await readAppResult(page);
  assert.equal(result.status, 'ok', result.error);
  assert.equal(result['has-id-token'], 'yes');
  const idToken = await page.evaluate(() => window.smartClient.state.tokenResponse.id_token);
  return { result, claims: jwtClaims(idToken) };
}

/**
 * Asserts that an id_token is smartgate's, for the test app, about the
 * account userId, from a session logged in by amr (["fed"] through a
 * provider, ["code"] with a sign-in code).
 */
function assertIdTokenFor(claims, userId, amr) {
  assert.equal(claims.iss, sgIssuer);
  assert.ok([].concat(claims.aud).includes(clientId), `aud ${JSON.stringify(claims.aud)}`);
  assert.equal(claims.sub, userId, 'sub is the local account');
  assert.deepEqual(claims.amr, amr, 'the log-in method');
}

// ---- the log-in page -----------------------------------------------------

test('the log-in page has a button per provider, with its name, and a link to enter a sign-in code', async () => {
  const { context, page } = await person();
  try {
    await page.goto(sgURL('/login'));
    for (const [id, p] of Object.entries(PROVIDERS)) {
      const button = page.locator(`a[href^="/login/${id}"]`);
      assert.equal(await button.count(), 1, id);
      assert.match(await button.textContent(), new RegExp(p.display_name));
      assert.match(await button.getAttribute('href'), new RegExp(`^/login/${id}(\\?|$)`));
    }
    assert.equal(await page.locator('a[href^="/login/code"]').count(), 1, 'a link to /login/code');
  } finally {
    await context.close();
  }
});

// ---- provisioning: auto --------------------------------------------------

let carolId;

test('auto: a first log-in through the provider makes a patient account with no fhirUser, linked to the identity', async () => {
  const before = await countUsers();
  const { context, page } = await person();
  try {
    const resp = await federatedLogIn(page, 'op-auto', 'carol');
    assert.ok(resp.status() >= 300 && resp.status() < 400, `the callback redirects on: ${resp.status()} ${await bodyText(page)}`);
    assert.ok(onSmartgate(new URL(page.url())), page.url());
    assert.equal(await page.locator('[role=alert]').count(), 0, await bodyText(page));
    await assertSession(page);
  } finally {
    await context.close();
  }
  assert.equal(await countUsers(), before + 1, 'one new account');
  // op-auto is not trusted_email: its email (verified or not) stays on the
  // link, not on the account, and the user name is {provider}-{12 hex of
  // sha256(issuer "\n" subject)}.
  const hash = createHash('sha256').update(`${op['op-auto'].issuer}\ncarol`).digest('hex').slice(0, 12);
  const found = await findScimUsers(sg.httpURL, token, `userName eq "op-auto-${hash}"`);
  assert.equal(found.totalResults, 1, 'the account is named op-auto-{hash}');
  const carol = found.Resources[0];
  carolId = carol.id;
  assert.deepEqual(carol.emails ?? [], [], 'an email the provider is not trusted for is not on the account');
  assert.equal((await findScimUsers(sg.httpURL, token, `emails.value eq "${ACCOUNTS.carol.email}"`)).totalResults, 0);
  assert.equal(carol.active, true);
  assert.deepEqual(carol[SCIM_SMARTGATE_USER]?.roles, ['patient']);
  assert.equal(carol[SCIM_SMARTGATE_USER]?.fhirUser, undefined, 'no fhirUser');
  assert.equal(carol.name?.givenName, ACCOUNTS.carol.given_name);
  const ids = identitiesOf(carol);
  assert.equal(ids.length, 1, JSON.stringify(ids));
  assert.deepEqual(
    { provider: ids[0].provider, issuer: ids[0].issuer, subject: ids[0].subject, email: ids[0].email },
    { provider: 'op-auto', issuer: op['op-auto'].issuer, subject: 'carol', email: ACCOUNTS.carol.email },
  );
  assert.ok(op['op-auto'].requests.includes('POST /token'), 'smartgate redeemed the code at the provider');
});

test('auto: the SMART app, the person logging in through the provider, holds smartgate\'s id_token for the linked account', async () => {
  const before = await countUsers();
  const { context, page } = await person();
  try {
    const { result, claims } = await launchApp(page, { logIn: (p) => viaProvider(p, 'op-auto', 'carol') });
    assertIdTokenFor(claims, carolId, ['fed']);
    assert.equal(claims.fhirUser, undefined, 'no fhirUser claim: the account has none');
    assert.equal(result['fhir-user'], '');
    assert.equal(result['patient-id'], '');
  } finally {
    await context.close();
  }
  assert.equal(await countUsers(), before, 'the second log-in lands in the same account');
});

// ---- provisioning: invite ------------------------------------------------

let dora; // the local account that dave's identity gets linked to

test('invite: an unknown identity is refused (403, a page that explains) and no account is made', async () => {
  dora = await createScimUser(sg.httpURL, token, {
    userName: 'dora', email: 'dora@work.example.org', password: PASSWORD, givenName: 'Dora', familyName: 'Brubeck',
  });
  const before = await countUsers();
  const { context, page } = await person();
  try {
    await assertRefused(page, await federatedLogIn(page, 'op-invite', 'dave'), 403);
  } finally {
    await context.close();
  }
  assert.equal(await countUsers(), before, 'no account');
  const daves = await findScimUsers(sg.httpURL, token, `emails.value eq "${ACCOUNTS.dave.email}"`);
  assert.equal(daves.totalResults, 0);
  assert.deepEqual(identitiesOf(await scimUser(dora.id)), [], 'nothing linked');
});

test('invite: logging in to the existing account and confirming at /login/link links it; the provider\'s log-in then lands there', async () => {
  const before = await countUsers();
  const first = await person();
  try {
    const { page } = first;
    await assertRefused(page, await federatedLogIn(page, 'op-invite', 'dave'), 403);
    // The pending link belongs to this browser: log in to the account, confirm.
    await page.goto(sgURL('/login/link'));
    if (await page.locator('input[name=password]').count() > 0) {
      await login(page, { username: 'dora', password: PASSWORD });
      if (pathOf(page.url()) !== '/login/link') await page.goto(sgURL('/login/link'));
    }
    assert.equal(pathOf(page.url()), '/login/link', await bodyText(page));
    // The confirming button of the form(s) posting to /login/link (not a
    // cancel button beside it).
    const buttons = page.locator('form[action$="/login/link"][method=post i]')
      .locator('button:not([type=button]):not([type=reset]), input[type=submit]')
      .filter({ hasNotText: /cancel|abort|deny|decline|\bnot?\b|don't/i });
    assert.ok(await buttons.count() >= 1, `a form to confirm the link: ${await bodyText(page)}`);
    await Promise.all([page.waitForEvent('load'), buttons.first().click()]);
    assert.equal(await page.locator('[role=alert]').count(), 0, await bodyText(page));
  } finally {
    await first.context.close();
  }
  assert.ok(hasIdentity(await scimUser(dora.id), 'op-invite', 'dave'), 'dave is linked to dora');

  const second = await person();
  try {
    const { claims } = await launchApp(second.page, { logIn: (p) => viaProvider(p, 'op-invite', 'dave') });
    assertIdTokenFor(claims, dora.id, ['fed']);
  } finally {
    await second.context.close();
  }
  assert.equal(await countUsers(), before, 'no account made');
});

// ---- trusted_email ------------------------------------------------------

test('trusted_email: a verified email links the account that has it at the first log-in', async () => {
  const alice = await createScimUser(sg.httpURL, token, { userName: 'alice.local', email: ACCOUNTS.alice.email, password: PASSWORD });
  const before = await countUsers();
  const { context, page } = await person();
  try {
    const { claims } = await launchApp(page, { logIn: (p) => viaProvider(p, 'op-trusted', 'alice') });
    assertIdTokenFor(claims, alice.id, ['fed']);
  } finally {
    await context.close();
  }
  assert.equal(await countUsers(), before, 'no account made');
  assert.ok(hasIdentity(await scimUser(alice.id), 'op-trusted', 'alice'), 'alice is linked to alice.local');
});

test('trusted_email: an unverified email does not link (403); nothing is linked or made', async () => {
  const bob = await createScimUser(sg.httpURL, token, { userName: 'bob.local', email: ACCOUNTS.bob.email, password: PASSWORD });
  const before = await countUsers();
  const { context, page } = await person();
  try {
    await assertRefused(page, await federatedLogIn(page, 'op-trusted', 'bob'), 403);
  } finally {
    await context.close();
  }
  assert.equal(await countUsers(), before, 'no account made');
  assert.deepEqual(identitiesOf(await scimUser(bob.id)), [], 'nothing linked');
});

// ---- sign-in codes -------------------------------------------------------

test('sign-in code: an administrator issues one; a fresh browser enters it and is that person; it works only once', async () => {
  const erin = await createScimUser(sg.httpURL, token, { userName: 'erin', email: ACCOUNTS.erin.email });
  let code;
  const admin = await person();
  try {
    const { page } = admin;
    await page.goto(sgURL(`/admin/users/${erin.id}`));
    await login(page, { username: 'admin', password: ADMIN_PASSWORD });
    assert.equal(pathOf(page.url()), `/admin/users/${erin.id}`, await bodyText(page));
    const issue = page.getByRole('button', { name: /sign-in code/i });
    assert.equal(await issue.count(), 1, `an "issue a sign-in code" button: ${await bodyText(page)}`);
    await Promise.all([page.waitForEvent('load'), issue.click()]);
    const shown = page.locator('[data-signin-code]');
    assert.equal(await shown.count(), 1, await bodyText(page));
    code = (await shown.getAttribute('data-signin-code')) || (await shown.textContent()).trim();
    assert.ok(code && code.length >= 8, `a code: ${code}`);
    assert.ok(!page.url().includes(code), 'not in the URL');
    await page.reload();
    assert.equal(await page.locator('[data-signin-code]').count(), 0, 'shown only once');
  } finally {
    await admin.context.close();
  }

  const enterCode = async (page) => {
    await page.goto(sgURL('/login'));
    await Promise.all([page.waitForEvent('load'), page.locator('a[href^="/login/code"]').first().click()]);
    assert.equal(pathOf(page.url()), '/login/code');
    await page.fill('input[name=code]', code);
    await Promise.all([
      page.waitForEvent('load'),
      page.locator('form:has(input[name=code]) button:not([type=button]):not([type=reset]), form:has(input[name=code]) input[type=submit]').first().click(),
    ]);
  };
  const holder = await person();
  try {
    const { page } = holder;
    await enterCode(page);
    assert.equal(await page.locator('[role=alert]').count(), 0, await bodyText(page));
    await assertSession(page);
    const { claims } = await launchApp(page); // no log-in asked: the code's session
    assertIdTokenFor(claims, erin.id, ['code']);
  } finally {
    await holder.context.close();
  }

  const again = await person();
  try {
    const { page } = again;
    await enterCode(page);
    assert.equal(await page.locator('[role=alert]').count(), 1, `a used code is refused: ${await bodyText(page)}`);
    await assertNoSession(page);
  } finally {
    await again.context.close();
  }
});

// ---- forged, foreign, replayed, misdirected state ------------------------

/**
 * Starts a log-in through provider id in page and stops on the provider's
 * log-in page; returns the state smartgate sent the provider.
 */
async function startLogIn(page, id) {
  const auths = [];
  const seen = (r) => { if (r.url().startsWith(`${op[id].issuer}/auth?`)) auths.push(r.url()); };
  page.on('request', seen);
  await page.goto(sgURL(`/login/${id}`));
  page.off('request', seen);
  const at = new URL(page.url());
  assert.ok(at.origin === op[id].issuer && at.pathname.startsWith('/interaction/'),
    `/login/${id} leads to the provider's log-in page: ${page.url()}: ${await bodyText(page)}`);
  assert.equal(auths.length, 1, 'one authorization request');
  const state = new URL(auths[0]).searchParams.get('state');
  assert.ok(state, 'smartgate sent a state');
  return state;
}

const callbackURL = (id, params) => `${sgURL(`/login/${id}/callback`)}?${new URLSearchParams(params)}`;

test('state: a foreign, forged, missing, replayed or misdirected callback is refused with 400 and logs no one in', async () => {
  const id = 'op-auto';
  const iss = op[id].issuer;
  const owner = await person(); // the browser that started the log-in
  const attacker = await person();
  const other = await person();
  try {
    const stateA = await startLogIn(owner.page, id);
    await startLogIn(attacker.page, id); // the attacker's own log-in is under way too
    // Another browser's state, a made-up one, none.
    for (const params of [{ code: 'forged-code', state: stateA, iss }, { code: 'forged-code', state: 'made-up-state', iss }, { code: 'forged-code', iss }]) {
      const resp = await attacker.page.goto(callbackURL(id, params));
      await assertRefused(attacker.page, resp, 400);
    }
    // The owner's log-in was not spoiled by the attempts: it completes.
    const callbacks = [];
    owner.page.on('response', (r) => { if (isCallback(id)(r)) callbacks.push(r); });
    await providerLogIn(owner.page, iss, 'carol');
    assert.equal(callbacks.length, 1);
    assert.ok(callbacks[0].status() < 400, `the owner's callback: ${callbacks[0].status()} ${await bodyText(owner.page)}`);
    const ownCallback = callbacks[0].url();
    await assertSession(owner.page);
    // The same callback again (a replay): by its owner, and by another browser.
    const replay = await owner.page.goto(ownCallback);
    assert.equal(replay.status(), 400, await bodyText(owner.page));
    assert.equal(await owner.page.locator('[role=alert]').count(), 1, await bodyText(owner.page));
    await assertRefused(attacker.page, await attacker.page.goto(ownCallback), 400);
    // A state of one provider at another provider's callback.
    const stateC = await startLogIn(other.page, id);
    const misdirected = await other.page.goto(callbackURL('op-invite', { code: 'forged-code', state: stateC, iss: op['op-invite'].issuer }));
    await assertRefused(other.page, misdirected, 400);
  } finally {
    await Promise.all([owner.context.close(), attacker.context.close(), other.context.close()]);
  }
});

test('the providers reported no errors of their own', () => {
  for (const [id, p] of Object.entries(op)) assert.deepEqual(p.errors, [], id);
});
