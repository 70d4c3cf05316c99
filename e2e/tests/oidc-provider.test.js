// The OpenID provider of the federated log-in tests (lib/oidcprovider.js,
// panva's oidc-provider) against a tiny relying party written here, in a
// real browser: the provider behaves as federated-login.test.js relies on
// (discovery, its log-in form, PKCE required, the RFC 9207 iss parameter,
// signed ID tokens with verified and unverified emails). When this file
// fails, the fault is in the fixture, not in smartgate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { launchIsolatedBrowser } from '../lib/harness.js';
import { startOIDCProvider, providerLogIn, jwtClaims, ACCOUNTS } from '../lib/oidcprovider.js';

let op;
let rp;
let browser;
before(async () => {
  rp = await startRP();
  // localhost: another site than the RP on 127.0.0.1, as in federated-login.test.js.
  op = await startOIDCProvider({ redirectURIs: [rp.callbackURL], hostname: 'localhost' });
  rp.op = op;
  browser = await launchIsolatedBrowser();
});
after(async () => {
  await browser?.close();
  await op?.stop();
  await rp?.stop();
});

const b64url = (buf) => Buffer.from(buf).toString('base64url');

/**
 * The relying party: GET /start sends the browser to the provider
 * (authorization code, with PKCE S256 unless ?pkce=no); GET /callback
 * redeems the code (client_secret_basic) and answers JSON: the callback's
 * parameters, the token answer's status, the ID token's header and claims,
 * whether its signature verifies against the provider's JWKS, and
 * userinfo's claims.
 */
async function startRP() {
  const pending = new Map(); // state -> { nonce, verifier }
  const self = {};
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(err.stack || err));
    });
  });
  async function handle(req, res) {
    const url = new URL(req.url, self.origin);
    const disco = await (await fetch(`${self.op.issuer}/.well-known/openid-configuration`)).json();
    if (url.pathname === '/start') {
      const state = b64url(randomBytes(16));
      const nonce = b64url(randomBytes(16));
      const verifier = b64url(randomBytes(32));
      pending.set(state, { nonce, verifier });
      const auth = new URL(disco.authorization_endpoint);
      auth.search = new URLSearchParams({
        client_id: self.op.clientId, response_type: 'code', scope: 'openid email profile',
        redirect_uri: self.callbackURL, state, nonce,
        ...(url.searchParams.get('pkce') === 'no' ? {} : {
          code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
        }),
      }).toString();
      res.writeHead(302, { Location: auth.href }).end();
      return;
    }
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    const params = Object.fromEntries(url.searchParams);
    const out = { params };
    const p = pending.get(params.state);
    pending.delete(params.state);
    if (p && params.code) {
      const tokenResp = await fetch(disco.token_endpoint, {
        method: 'POST',
        headers: {
          Authorization: `Basic ${Buffer.from(`${self.op.clientId}:${self.op.clientSecret}`).toString('base64')}`,
          'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code', code: params.code, redirect_uri: self.callbackURL, code_verifier: p.verifier,
        }),
      });
      const tokens = await tokenResp.json();
      out.tokenStatus = tokenResp.status;
      if (tokens.id_token) {
        const [h, c, s] = tokens.id_token.split('.');
        out.header = JSON.parse(Buffer.from(h, 'base64url'));
        out.claims = jwtClaims(tokens.id_token);
        out.nonceMatches = out.claims.nonce === p.nonce;
        const { keys } = await (await fetch(disco.jwks_uri)).json();
        const jwk = keys.find((k) => k.kid === out.header.kid);
        out.signatureValid = Boolean(jwk) && verify('RSA-SHA256', Buffer.from(`${h}.${c}`),
          createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
        const ui = await fetch(disco.userinfo_endpoint, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
        out.userinfo = await ui.json();
      } else {
        out.tokenError = tokens;
      }
    }
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(out));
  }
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  self.origin = `http://127.0.0.1:${server.address().port}`;
  self.callbackURL = `${self.origin}/callback`;
  self.stop = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return self;
}

/** One log-in through the provider in a fresh browser; returns the RP's JSON. */
async function logInThroughRP(account, { pkce = true } = {}) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(`${rp.origin}/start${pkce ? '' : '?pkce=no'}`);
    if (account) await providerLogIn(page, op.issuer, account);
    await page.waitForURL((u) => u.href.startsWith(rp.callbackURL), { waitUntil: 'load' });
    return JSON.parse(await page.textContent('body'));
  } finally {
    await context.close();
  }
}

test('discovery: issuer, S256 only, the RFC 9207 iss parameter, the scopes and claims', async () => {
  const resp = await fetch(`${op.issuer}/.well-known/openid-configuration`);
  assert.equal(resp.status, 200);
  const d = await resp.json();
  assert.equal(d.issuer, op.issuer);
  assert.match(op.issuer, /^http:\/\/localhost:\d+$/);
  assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
  assert.equal(d.authorization_response_iss_parameter_supported, true);
  for (const s of ['openid', 'email', 'profile']) assert.ok(d.scopes_supported.includes(s), s);
  for (const c of ['email', 'email_verified', 'name']) assert.ok(d.claims_supported.includes(c), c);
  for (const u of [d.authorization_endpoint, d.token_endpoint, d.jwks_uri, d.userinfo_endpoint]) {
    assert.ok(u.startsWith(`${op.issuer}/`), u);
  }
});

test('a browser logs in on the provider\'s form; the RP gets iss, a signed ID token with a verified email', async () => {
  const out = await logInThroughRP('alice');
  assert.equal(out.params.iss, op.issuer, 'RFC 9207 iss in the authorization response');
  assert.ok(out.params.code, JSON.stringify(out.params));
  assert.equal(out.tokenStatus, 200, JSON.stringify(out.tokenError));
  assert.equal(out.header.alg, 'RS256');
  assert.equal(out.signatureValid, true);
  assert.equal(out.nonceMatches, true);
  assert.equal(out.claims.iss, op.issuer);
  assert.equal(out.claims.aud, op.clientId);
  assert.equal(out.claims.sub, 'alice');
  assert.equal(out.claims.email, ACCOUNTS.alice.email);
  assert.equal(out.claims.email_verified, true);
  assert.equal(out.claims.name, 'Alice Liddell');
  assert.equal(out.userinfo.sub, 'alice');
  assert.equal(out.userinfo.email, ACCOUNTS.alice.email);
});

test('an unverified email is sent as such', async () => {
  const out = await logInThroughRP('bob');
  assert.equal(out.tokenStatus, 200, JSON.stringify(out.tokenError));
  assert.equal(out.claims.sub, 'bob');
  assert.equal(out.claims.email, ACCOUNTS.bob.email);
  assert.equal(out.claims.email_verified, false);
});

test('PKCE is required: a request without a code challenge is refused with iss', async () => {
  const out = await logInThroughRP(undefined, { pkce: false });
  assert.equal(out.params.error, 'invalid_request', JSON.stringify(out.params));
  assert.match(out.params.error_description, /PKCE/);
  assert.equal(out.params.iss, op.issuer);
  assert.equal(out.params.code, undefined);
});
