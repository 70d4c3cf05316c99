// SMART Backend Services (checklist K1, K5, K7, K14) driven by panva's
// openid-client 6.x, the most used Node OpenID client, as a new user would
// write it: discovery, then clientCredentialsGrant with PrivateKeyJwt. Its
// client assertion names the issuer identifier in aud (not the token
// endpoint URL), which smartgate accepts (issue 13, RFC 7523 §3 and
// draft-ietf-oauth-rfc7523bis). The keys are made here with WebCrypto, the
// API the package signs with. Over the plain-HTTP loopback listener
// (allowInsecureRequests) and over the HTTPS listener (its self-signed
// certificate trusted through customFetch).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { webcrypto } from 'node:crypto';
import * as client from 'openid-client';
import { startSmartgateWithURLs, adminToken, createResource } from '../lib/support.js';
import { jwtClaims } from '../lib/oidcprovider.js';

const { subtle } = webcrypto;

let sg;
let admin;
let patientId;
before(async () => {
  sg = await startSmartgateWithURLs();
  admin = await adminToken(sg.httpURL);
  patientId = await createResource(sg.httpURL, admin, {
    resourceType: 'Patient', name: [{ family: 'Openidclient', given: ['Backend'] }], birthDate: '1980-01-01',
  });
});
after(async () => {
  await sg?.stop();
});

const KEY_PARAMS = {
  ES384: { name: 'ECDSA', namedCurve: 'P-384' },
  RS384: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-384' },
};

/**
 * A key pair for alg made with WebCrypto, and a backend-services client
 * registered with its public JWK through RFC 7591 (the administrator's
 * token as the initial access token). Returns { clientId, privateKey, kid }.
 */
async function registerBackend(alg) {
  const { publicKey, privateKey } = await subtle.generateKey(KEY_PARAMS[alg], true, ['sign', 'verify']);
  const kid = `${alg}-${Date.now()}`;
  const jwk = { ...(await subtle.exportKey('jwk', publicKey)), kid, alg, use: 'sig' };
  delete jwk.key_ops;
  delete jwk.ext;
  const resp = await fetch(`${sg.httpURL}/oauth/register`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      client_name: `openid-client ${alg}`,
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [jwk] },
      scope: 'system/Patient.rs',
    }),
  });
  const body = await resp.json();
  assert.equal(resp.status, 201, `register: ${JSON.stringify(body)}`);
  return { clientId: body.client_id, privateKey, kid };
}

/** A fetch for openid-client's customFetch that trusts only ca (PEM), over node:https. */
function fetchTrusting(ca) {
  return (url, { method = 'GET', headers, body, signal } = {}) => new Promise((resolve, reject) => {
    const h = Object.fromEntries(new Headers(headers));
    const data = body == null ? undefined : Buffer.from(body.toString());
    if (data) h['content-length'] = String(data.length);
    const req = httpsRequest(url, { method, headers: h, ca, signal }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const rh = new Headers();
        for (const [k, v] of Object.entries(res.headers)) for (const one of [v].flat()) rh.append(k, one);
        const buf = Buffer.concat(chunks);
        resolve(new Response(buf.length ? buf : null, { status: res.statusCode, headers: rh }));
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * Discovers base with openid-client for clientId authenticating with
 * privateKey, and records every token request's form (to replay its
 * assertion). Returns { config, tokenForms }.
 */
async function discover(base, { clientId, privateKey, kid }) {
  const tokenForms = [];
  let inner = fetch;
  const options = {};
  if (base.startsWith('http:')) {
    options.execute = [client.allowInsecureRequests];
  } else {
    inner = fetchTrusting(readFileSync(`${sg.dataDir}/tls/selfsigned-cert.pem`));
  }
  const recording = (url, opts) => {
    if (String(url).endsWith('/oauth/token')) tokenForms.push(new URLSearchParams(opts.body.toString()));
    return inner(url, opts);
  };
  options[client.customFetch] = recording;
  const config = await client.discovery(new URL(base), clientId, undefined,
    client.PrivateKeyJwt({ key: privateKey, kid }), options);
  config[client.customFetch] = recording;
  return { config, tokenForms, fetch: inner };
}

for (const listener of ['http', 'https']) {
  for (const alg of ['ES384', 'RS384']) {
    test(`K1/K5/K7: openid-client clientCredentialsGrant with PrivateKeyJwt (${alg}) over ${listener}`, async () => {
      const base = listener === 'http' ? sg.httpURL : sg.httpsURL;
      const backend = await registerBackend(alg);
      const { config, tokenForms, fetch: rawFetch } = await discover(base, backend);
      assert.equal(config.serverMetadata().issuer, base);

      const tokens = await client.clientCredentialsGrant(config, { scope: 'system/Patient.rs' });
      assert.ok(tokens.access_token, 'an access token');
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.equal(tokens.scope, 'system/Patient.rs');
      assert.ok(tokens.expires_in > 0 && tokens.expires_in <= 300, `K11: expires_in ${tokens.expires_in}`);

      // What openid-client sent: a private_key_jwt assertion signed with
      // alg whose aud is the issuer identifier (the reason for issue 13).
      assert.equal(tokenForms.length, 1);
      const form = tokenForms[0];
      assert.equal(form.get('client_assertion_type'), 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      const assertion = form.get('client_assertion');
      const header = JSON.parse(Buffer.from(assertion.split('.')[0], 'base64url'));
      assert.equal(header.alg, alg);
      const claims = jwtClaims(assertion);
      assert.equal(claims.iss, backend.clientId);
      assert.equal(claims.sub, backend.clientId);
      assert.deepEqual([claims.aud].flat(), [base], `aud ${JSON.stringify(claims.aud)}`);

      // K5: the same assertion (same jti) a second time is refused.
      const replay = await rawFetch(`${base}/oauth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: form.toString(),
      });
      const replayBody = await replay.json();
      assert.ok([400, 401].includes(replay.status), `replay: ${replay.status}`);
      assert.equal(replayBody.error, 'invalid_client');
      assert.doesNotMatch(JSON.stringify(replayBody), /eyJ/, 'the error never echoes the assertion');

      // K14: the FHIR endpoint of that listener accepts the token for system/Patient.rs.
      const read = await rawFetch(`${base}/fhir/Patient/${patientId}`, {
        headers: { Authorization: `Bearer ${tokens.access_token}`, Accept: 'application/fhir+json' },
      });
      assert.equal(read.status, 200);
      assert.equal((await read.json()).id, patientId);
      const search = await rawFetch(`${base}/fhir/Patient?family=Openidclient`, {
        headers: { Authorization: `Bearer ${tokens.access_token}`, Accept: 'application/fhir+json' },
      });
      assert.equal(search.status, 200);
      const bundle = await search.json();
      assert.equal(bundle.resourceType, 'Bundle');
      assert.ok(bundle.entry?.some((e) => e.resource?.id === patientId), 'the patient is found');
      // ...and not for what system/Patient.rs does not grant.
      const obs = await rawFetch(`${base}/fhir/Observation`, {
        headers: { Authorization: `Bearer ${tokens.access_token}`, Accept: 'application/fhir+json' },
      });
      assert.equal(obs.status, 403);
      await obs.arrayBuffer();
    });
  }
}
