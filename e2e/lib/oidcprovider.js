// oidcprovider: a real OpenID provider for the federated log-in tests,
// panva's oidc-provider (npm, pinned in package.json; OpenID-certified),
// started in this process on its own 127.0.0.1 port. Nobody here wrote its
// protocol code: this file only configures it.
//
// Each provider has:
//   - the issuer http://HOSTNAME:PORT (plain HTTP on loopback), where
//     HOSTNAME is 127.0.0.1 or localhost (the listener is on 127.0.0.1
//     either way). localhost makes the provider another site than a
//     smartgate on 127.0.0.1, as a real provider is: the way back to the
//     relying party is then a cross-site navigation, which SameSite=Strict
//     cookies would not survive;
//   - one static confidential client (client_secret_basic or _post) whose
//     redirect URIs the caller names, authorization code only, PKCE (S256)
//     required of every client;
//   - the scopes openid, email and profile, whose claims (email,
//     email_verified, name, given_name, family_name) are put in the ID token
//     as well as served by userinfo;
//   - the accounts of ACCOUNTS: the account id is the subject;
//   - oidc-provider's own development log-in page (devInteractions): a form
//     with input[name=login] (the account id) and input[name=password]
//     (any value); an id that is not in ACCOUNTS is refused by findAccount.
//     The consent step is skipped for the static client (a first-party
//     client: its grant is made on first use, loadExistingGrant);
//   - RFC 9207: every authorization response carries iss (oidc-provider
//     always sends it, and says so in discovery);
//   - a new RSA signing key and new cookie keys at every start.
// Nothing here reaches beyond 127.0.0.1.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

/**
 * The people the providers know, by account id (= subject). alice and carol
 * have verified emails; bob's is not verified.
 */
export const ACCOUNTS = Object.freeze({
  alice: { email: 'alice@example.org', email_verified: true, given_name: 'Alice', family_name: 'Liddell' },
  bob: { email: 'bob@example.org', email_verified: false, given_name: 'Bob', family_name: 'Dylan' },
  carol: { email: 'carol@example.org', email_verified: true, given_name: 'Carol', family_name: 'Shields' },
  dave: { email: 'dave@example.org', email_verified: true, given_name: 'Dave', family_name: 'Brubeck' },
  erin: { email: 'erin@example.org', email_verified: true, given_name: 'Erin', family_name: 'Hunter' },
});

/** The claims of an account, by scope (sub always). */
function claimsOf(id, scope) {
  const a = ACCOUNTS[id];
  const scopes = new Set(String(scope || '').split(' '));
  const out = { sub: id };
  if (scopes.has('email')) Object.assign(out, { email: a.email, email_verified: a.email_verified });
  if (scopes.has('profile')) {
    Object.assign(out, { name: `${a.given_name} ${a.family_name}`, given_name: a.given_name, family_name: a.family_name });
  }
  return out;
}

const SCOPES = 'openid email profile';

/**
 * Starts one provider on a free 127.0.0.1 port. redirectURIs: the static
 * client's redirect URIs (smartgate's {base}/login/{id}/callback, for each
 * listener); hostname: the issuer's host, 127.0.0.1 or localhost. Returns { issuer, clientId, clientSecret, requests, errors,
 * stop() }: requests lists "METHOD path" of every request served; errors
 * the provider's own error events (for failure messages).
 */
export async function startOIDCProvider({ redirectURIs, hostname = '127.0.0.1', clientId = `smartgate-${randomUUID()}` }) {
  if (!Array.isArray(redirectURIs) || redirectURIs.length === 0) throw new Error('startOIDCProvider: redirectURIs is required');
  if (hostname !== '127.0.0.1' && hostname !== 'localhost') throw new Error(`startOIDCProvider: hostname ${hostname} is not loopback`);
  // The issuer names the port, so the port comes first: listen, then
  // hand the requests to the provider once it exists.
  let handler = (_req, res) => { res.writeHead(503).end(); };
  const server = createServer((req, res) => handler(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  // localhost may resolve to ::1 first (a CI runner's /etc/hosts): answer
  // there too when the machine has IPv6 loopback, so no client depends on
  // falling back to 127.0.0.1.
  const server6 = await listenIPv6Loopback(port, (req, res) => handler(req, res));
  const issuer = `http://${hostname}:${port}`;
  const clientSecret = randomBytes(24).toString('hex');
  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectURIs,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    pkce: { required: () => true },
    scopes: SCOPES.split(' '),
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
    },
    conformIdTokenClaims: false, // the scopes' claims in the ID token too, not only from userinfo
    async findAccount(_ctx, id) {
      if (!Object.hasOwn(ACCOUNTS, id)) return undefined;
      return { accountId: id, claims: async (_use, scope) => claimsOf(id, scope) };
    },
    async loadExistingGrant(ctx) {
      const { Grant } = ctx.oidc.provider;
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return Grant.find(grantId);
      if (ctx.oidc.client.clientId !== clientId) return undefined;
      const grant = new Grant({ clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(SCOPES);
      await grant.save();
      return grant;
    },
    features: {
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
    },
    jwks: { keys: [{ ...signingKey, kid: randomUUID(), use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AuthorizationCode: 60, AccessToken: 600, IdToken: 600 },
  });
  const requests = [];
  const errors = [];
  provider.use(async (ctx, next) => {
    requests.push(`${ctx.method} ${ctx.path}`);
    await next();
  });
  for (const ev of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error']) {
    provider.on(ev, (_ctx, err) => errors.push(`${ev}: ${err.message}${err.error_description ? `: ${err.error_description}` : ''}`));
  }
  handler = provider.callback();
  return {
    issuer,
    clientId,
    clientSecret,
    requests,
    errors,
    stop: () => Promise.all([server, server6].filter(Boolean).map((srv) => new Promise((resolve) => {
      srv.closeAllConnections();
      srv.close(() => resolve());
    }))),
  };
}

/** A server on [::1]:port, or undefined when the machine has no IPv6 loopback (or the port is taken there). */
async function listenIPv6Loopback(port, handle) {
  const srv = createServer(handle);
  return new Promise((resolve) => {
    srv.once('error', () => resolve(undefined));
    srv.listen(port, '::1', () => resolve(srv));
  });
}

/**
 * Logs in on the provider's log-in page (page must be on it) as the account
 * id, and waits for the next document, which must be off the provider's
 * origin (the relying party's callback and what it answers). Throws with
 * the page's text when the page is not the log-in form, or when the
 * provider answers with a page of its own (an error).
 */
export async function providerLogIn(page, issuer, account) {
  const here = new URL(page.url());
  const form = page.locator('form:has(input[name=login])');
  if (here.origin !== issuer || !here.pathname.startsWith('/interaction/') || await form.count() === 0) {
    throw new Error(`not the provider's log-in page: ${page.url()}: ${await textOf(page)}`);
  }
  await page.fill('input[name=login]', account);
  await page.fill('input[name=password]', 'any password: the provider checks none');
  await Promise.all([page.waitForEvent('load'), form.locator('button[type=submit]').click()]);
  if (new URL(page.url()).origin === issuer) {
    throw new Error(`the provider did not send the browser back: ${page.url()}: ${await textOf(page)}`);
  }
}

async function textOf(page) {
  return ((await page.textContent('body').catch(() => '')) || '').replace(/\s+/g, ' ').trim().slice(0, 500);
}

/** The claims of a JWT's payload, not verified (the tests read what a client received). */
export function jwtClaims(jwt) {
  const part = String(jwt || '').split('.')[1];
  if (!part) throw new Error(`not a JWT: ${String(jwt).slice(0, 40)}`);
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}
