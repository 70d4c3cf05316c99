// apphost: a tiny static web server on its own 127.0.0.1 port (so a
// different origin from smartgate) that hosts SMART apps for the browser
// tests. The apps run the real, vendored fhirclient library
// (static/vendor/fhirclient in this repository), never a copy of it.
//
// It serves:
//   /launch    test app launch page: FHIR.oauth2.authorize() with the
//              parameters from its query string (see launchURL)
//   /callback  test app redirect target: FHIR.oauth2.ready(), then reads
//              Patient/{patient} with the token and writes what happened
//              into elements with data-testid attributes (see readAppResult)
//   /config.json        defaults for the test app (host.config)
//   /apps/demo/...      the bundled demo app from static/apps/demo, with
//                       /apps/demo/config.json from host.demoConfig
//   /static/...         the repository's static/ folder (as smartgate does)
// Every page is sent with a strict Content-Security-Policy (no inline
// script, no eval), the one the demo app must live with on smartgate.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize, sep, extname } from 'node:path';
import { repoRoot } from './harness.js';

export * from './pages.js';

export const staticDir = join(repoRoot, 'static');
export const fhirclientFile = join(staticDir, 'vendor', 'fhirclient', 'fhir-client.pure.min.js');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
};

// The test app may call any loopback server (smartgate on its own ports);
// the demo app only its own origin, as on smartgate.
const TEST_APP_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "connect-src 'self' http://127.0.0.1:* https://127.0.0.1:* http://localhost:* https://localhost:*; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const DEMO_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const testPage = (title, script) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<script src="/fhirclient.js" defer></script>
<script src="${script}" defer></script>
</head><body>
<h1>${title}</h1>
<dl>
<dt>status</dt><dd data-testid="status">pending</dd>
<dt>error</dt><dd data-testid="error"></dd>
<dt>requested scope</dt><dd data-testid="requested-scope"></dd>
<dt>granted scope</dt><dd data-testid="scope"></dd>
<dt>patient id</dt><dd data-testid="patient-id"></dd>
<dt>patient name</dt><dd data-testid="patient-name"></dd>
<dt>encounter id</dt><dd data-testid="encounter-id"></dd>
<dt>fhirUser</dt><dd data-testid="fhir-user"></dd>
<dt>token type</dt><dd data-testid="token-type"></dd>
<dt>refresh token</dt><dd data-testid="has-refresh-token"></dd>
<dt>id token</dt><dd data-testid="has-id-token"></dd>
</dl>
</body></html>
`;

// Shared by both test pages: writes one result field, as text.
const COMMON_JS = `
function put(id, v) {
  document.querySelector('[data-testid="' + id + '"]').textContent = v === undefined || v === null ? '' : String(v);
}
function fail(err) {
  put('error', err && err.message ? err.message : err);
  put('status', 'error');
}
`;

const LAUNCH_JS = `'use strict';
${COMMON_JS}
(async function () {
  if (!window.FHIR || !window.FHIR.oauth2 || typeof window.FHIR.oauth2.authorize !== 'function') {
    throw new Error('fhirclient did not load');
  }
  const q = new URLSearchParams(location.search);
  const defaults = await (await fetch('/config.json', { cache: 'no-store' })).json();
  const clientId = q.get('clientId') || defaults.clientId;
  if (!clientId) throw new Error('clientId is required (query string or host.config)');
  let scope = q.get('scope') || defaults.scope || 'openid fhirUser launch/patient patient/*.rs';
  const launch = q.get('launch') || undefined;
  if (launch && !scope.split(/\\s+/).includes('launch')) scope = 'launch ' + scope;
  put('requested-scope', scope);
  put('status', 'authorizing');
  await window.FHIR.oauth2.authorize({
    clientId,
    scope,
    iss: q.get('iss') || defaults.iss,
    launch,
    redirectUri: q.get('redirect') || defaults.redirect || new URL('/callback', location.href).href,
    pkceMode: q.get('pkceMode') || defaults.pkceMode || 'required',
  });
})().catch(fail);
`;

const CALLBACK_JS = `'use strict';
${COMMON_JS}
function humanName(names) {
  if (!Array.isArray(names) || names.length === 0) return '';
  const n = names.find((x) => x.use === 'official') || names[0];
  return n.text || [].concat(n.prefix || [], n.given || [], n.family || [], n.suffix || []).join(' ');
}
(async function () {
  const client = await window.FHIR.oauth2.ready();
  window.smartClient = client; // for page.evaluate in tests
  const tr = client.state.tokenResponse || {};
  put('scope', tr.scope);
  put('token-type', tr.token_type);
  put('has-refresh-token', tr.refresh_token ? 'yes' : 'no');
  put('has-id-token', tr.id_token ? 'yes' : 'no');
  put('patient-id', client.patient.id);
  put('encounter-id', client.encounter.id);
  put('fhir-user', client.getFhirUser());
  if (client.patient.id) {
    const patient = await client.request('Patient/' + encodeURIComponent(client.patient.id));
    put('patient-name', humanName(patient.name));
  }
  put('status', 'ok');
})().catch(fail);
`;

/**
 * Starts the app host on 127.0.0.1 (a free port). Returns
 * { origin, launchURL(params), callbackURL, demoURL, config, demoConfig, requests, stop() }.
 * config / demoConfig are mutable objects served as /config.json and
 * /apps/demo/config.json; requests lists every "METHOD path" served.
 */
export async function startAppHost() {
  const host = {
    config: {},
    demoConfig: {},
    requests: [],
  };
  const server = createServer((req, res) => {
    handle(host, req, res).catch((err) => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', String(err), TEST_APP_CSP);
      else res.destroy();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  host.origin = `http://127.0.0.1:${port}`;
  host.callbackURL = `${host.origin}/callback`;
  host.demoURL = `${host.origin}/apps/demo/`;
  /** URL of the test app's launch page; params: clientId, scope, iss, launch, redirect, pkceMode. */
  host.launchURL = (params = {}) => {
    const u = new URL('/launch', host.origin);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
    return u.href;
  };
  host.stop = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return host;
}

async function handle(host, req, res) {
  const url = new URL(req.url, 'http://apphost');
  const path = url.pathname;
  host.requests.push(`${req.method} ${path}`);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed', TEST_APP_CSP);
  }
  switch (path) {
    case '/launch': return send(res, 200, TYPES['.html'], testPage('SMART test app: launch', '/launch.js'), TEST_APP_CSP);
    case '/callback': return send(res, 200, TYPES['.html'], testPage('SMART test app: callback', '/callback.js'), TEST_APP_CSP);
    case '/launch.js': return send(res, 200, TYPES['.js'], LAUNCH_JS, TEST_APP_CSP);
    case '/callback.js': return send(res, 200, TYPES['.js'], CALLBACK_JS, TEST_APP_CSP);
    case '/fhirclient.js': return send(res, 200, TYPES['.js'], await readFile(fhirclientFile), TEST_APP_CSP);
    case '/config.json': return send(res, 200, TYPES['.json'], JSON.stringify(host.config), TEST_APP_CSP);
    case '/apps/demo/config.json': return send(res, 200, TYPES['.json'], JSON.stringify(host.demoConfig), DEMO_CSP);
    default:
  }
  if (path.startsWith('/apps/demo/') || path.startsWith('/static/')) {
    let rel = decodeURIComponent(path).replace(/^\/static\//, '/');
    if (rel.endsWith('/')) rel += 'index.html';
    const file = normalize(join(staticDir, rel));
    if (!file.startsWith(staticDir + sep)) return send(res, 404, 'text/plain; charset=utf-8', 'not found', DEMO_CSP);
    let body;
    try {
      body = await readFile(file);
    } catch {
      return send(res, 404, 'text/plain; charset=utf-8', 'not found', DEMO_CSP);
    }
    return send(res, 200, TYPES[extname(file)] || 'application/octet-stream', body, DEMO_CSP);
  }
  return send(res, 404, 'text/plain; charset=utf-8', 'not found', TEST_APP_CSP);
}

function send(res, status, type, body, csp) {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
