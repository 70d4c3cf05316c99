// Set-up for the SMART browser tests, through the outside contract only
// (/work/shared/interface.md): smartgate started with public URLs that match
// its real ports, the administrator's OWin token (password grant), FHIR
// writes with it, local accounts with `smartgate user add`, and public
// clients registered with RFC 7591.
import { createServer } from 'node:net';
import { execFileSync } from 'node:child_process';
import { startSmartgate, buildSmartgate } from './harness.js';

export const ADMIN_PASSWORD = 'e2e-admin-password-0123456789';

/** A free TCP port on 127.0.0.1 (free when asked; bound by whoever comes next). */
export async function freePort() {
  const srv = createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * Starts smartgate with --http-url/--https-url naming the ports it really
 * listens on, so that discovery, issuer and links are reachable (the harness
 * alone binds port 0 and keeps the default public URLs). Extra args (e.g.
 * --demo) are appended. ports ([http, https]) are chosen when not given (a
 * test that must name smartgate's URLs before it starts, e.g. in an
 * identity provider's redirect URIs, picks them with freePort); env is
 * added to the process's environment.
 */
export async function startSmartgateWithURLs(args = [], { ports, env = {} } = {}) {
  const [hp, sp] = ports || [await freePort(), await freePort()];
  let upstream;
  if (process.env.SMARTGATE_E2E_PROXY === '1') {
    // Proxy mode (issue 14): the same tests, with /fhir forwarded to a
    // separate smartgate that serves its embedded store without access
    // control on loopback and is never given a token.
    upstream = await startUpstreamFHIR();
    args = ['--fhir-upstream', `${upstream.httpURL}/fhir`, ...args];
  }
  const sg = await startSmartgate({
    args: [
      '--http-addr', `127.0.0.1:${hp}`, '--http-url', `http://127.0.0.1:${hp}`,
      '--https-addr', `127.0.0.1:${sp}`, '--https-url', `https://127.0.0.1:${sp}`,
      ...args,
    ],
    env: { SMARTGATE_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env },
  }).catch(async (err) => { await upstream?.stop(); throw err; });
  if (upstream) {
    const stop = sg.stop.bind(sg);
    sg.upstream = upstream;
    sg.stop = async () => { await stop(); await upstream.stop(); };
  }
  return sg;
}

/**
 * Waits until smartgate's stdout matches re (default: the "smartgate ready"
 * line, printed after the listeners and the --demo log-ins) and returns
 * the match; the harness resolves as soon as the listeners are up.
 */
export async function waitForOutput(sg, re = /^smartgate ready$/m, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = sg.stdout().match(re);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`smartgate never printed ${re}:\n${sg.stdout()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A bare smartgate whose plain-HTTP /fhir needs no token (an upstream). */
export async function startUpstreamFHIR() {
  const p = await freePort();
  return startSmartgate({
    args: ['--http-addr', `127.0.0.1:${p}`, '--http-url', `http://127.0.0.1:${p}`, '--https-addr', '', '--http-auth', 'none'],
    env: { SMARTGATE_ADMIN_PASSWORD: ADMIN_PASSWORD },
    listeners: ['http'],
  });
}

/** The administrator's OWin bearer token (password grant). */
export async function adminToken(base) {
  const resp = await fetch(`${base}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: 'admin', password: ADMIN_PASSWORD }),
  });
  const body = await jsonOrText(resp);
  if (resp.status !== 200 || !body.access_token) throw new Error(`password grant: ${resp.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** Creates a FHIR resource (POST /fhir/{type}) and returns its id. */
export async function createResource(base, token, resource) {
  const resp = await fetch(`${base}/fhir/${resource.resourceType}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json', Prefer: 'return=representation' },
    body: JSON.stringify(resource),
  });
  const text = await resp.text();
  if (resp.status !== 201) throw new Error(`create ${resource.resourceType}: ${resp.status} ${text}`);
  const fromLocation = (resp.headers.get('location') || '').match(new RegExp(`${resource.resourceType}/([^/]+)`));
  const id = (text && JSON.parse(text).id) || fromLocation?.[1];
  if (!id) throw new Error(`create ${resource.resourceType}: no id in the answer`);
  return id;
}

/** A patient with one condition, one medication request and one observation. */
export async function createPatientRecord(base, token, { given, family }) {
  const id = await createResource(base, token, {
    resourceType: 'Patient', name: [{ use: 'official', given: [given], family }], gender: 'female', birthDate: '1970-01-01',
  });
  const subject = { reference: `Patient/${id}` };
  await createResource(base, token, {
    resourceType: 'Condition', subject,
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
    code: { coding: [{ system: 'http://snomed.info/sct', code: '38341003', display: 'Hypertension' }], text: 'Hypertension' },
    onsetDateTime: '2020-02-03',
  });
  await createResource(base, token, {
    resourceType: 'MedicationRequest', subject, status: 'active', intent: 'order', authoredOn: '2020-02-04',
    medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '314076', display: 'lisinopril 10 MG Oral Tablet' }], text: 'lisinopril 10 MG Oral Tablet' },
  });
  await createResource(base, token, {
    resourceType: 'Observation', subject, status: 'final', effectiveDateTime: '2024-05-06T07:08:09Z',
    code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic blood pressure' }], text: 'Systolic blood pressure' },
    valueQuantity: { value: 128, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
  });
  return { id, name: `${given} ${family}` };
}

/** `smartgate user add` against the running server's data folder. */
export function addUser(sg, { username, password, role, fhirUser }) {
  const args = ['user', 'add', '--data', sg.dataDir, '--username', username, '--password-stdin', '--role', role];
  if (fhirUser) args.push('--fhir-user', fhirUser);
  execFileSync(buildSmartgate(), args, { input: `${password}\n`, stdio: ['pipe', 'pipe', 'inherit'] });
}

/** RFC 7591 registration of a public browser client (the admin token is the initial access token). */
export async function registerPublicClient(base, token, metadata) {
  const resp = await fetch(`${base}/oauth/register`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      ...metadata,
    }),
  });
  const body = await jsonOrText(resp);
  if (resp.status !== 201) throw new Error(`register: ${resp.status} ${JSON.stringify(body)}`);
  return body.client_id;
}

export const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCIM_SMARTGATE_USER = 'urn:ietf:params:scim:schemas:extension:smartgate:2.0:User';

/** One SCIM request with a bearer token; returns { status, body }. */
export async function scim(base, token, method, path, body) {
  const resp = await fetch(`${base}/scim/v2${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/scim+json', ...(body ? { 'Content-Type': 'application/scim+json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: resp.status, body: await jsonOrText(resp) };
}

/** Creates a SCIM User (fields: userName, email, password, givenName, familyName); returns it. */
export async function createScimUser(base, token, { userName, email, password, givenName, familyName }) {
  const { status, body } = await scim(base, token, 'POST', '/Users', {
    schemas: [SCIM_USER],
    userName,
    ...(givenName || familyName ? { name: { givenName, familyName } } : {}),
    ...(email ? { emails: [{ value: email, type: 'work', primary: true }] } : {}),
    ...(password ? { password } : {}),
    active: true,
  });
  if (status !== 201) throw new Error(`SCIM create ${userName}: ${status} ${JSON.stringify(body)}`);
  return body;
}

/** The SCIM Users that match a filter (RFC 7644 §3.4.2.2), e.g. 'emails.value eq "a@b.c"'. */
export async function findScimUsers(base, token, filter) {
  const path = filter === undefined ? '/Users' : `/Users?${new URLSearchParams({ filter })}`;
  const { status, body } = await scim(base, token, 'GET', path);
  if (status !== 200) throw new Error(`SCIM list ${filter}: ${status} ${JSON.stringify(body)}`);
  return body;
}

async function jsonOrText(resp) {
  const text = await resp.text();
  try {
    return JSON.parse(text);
  } catch {
    return { text };
  }
}

/** Scopes as a set, for comparing requested and granted scope strings. */
export const scopeSet = (s) => new Set((s || '').split(/\s+/).filter(Boolean));
