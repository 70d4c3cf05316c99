// PENDING: requires authz + web (/admin/launch, /admin/clients/new) + fhir
// (+ CORS on discovery, token and FHIR); enable when merged by moving this
// file to e2e/tests/ (see README.md).
//
// EHR launch: an administrator registers the test app (with a launch_uri)
// on /admin/clients/new and launches it from /admin/launch for a patient;
// the real fhirclient library in the app (on its own origin) receives iss
// and launch, completes the launch with SMART v2 or v1 scopes and reads the
// patient with its token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from '../lib/harness.js';
import { startAppHost, completeAuthorization, readAppResult, registerClient, ehrLaunch } from '../lib/apphost.js';
import { startSmartgateWithURLs, adminToken, createPatientRecord, ADMIN_PASSWORD, scopeSet } from '../lib/support.js';

let sg;
let host;
let ada;
const admin = { username: 'admin', password: ADMIN_PASSWORD };

before(async () => {
  [sg, host] = await Promise.all([startSmartgateWithURLs(), startAppHost()]);
  ada = await createPatientRecord(sg.httpURL, await adminToken(sg.httpURL), { given: 'Ada', family: 'Lovelace' });
});
after(async () => {
  await host?.stop();
  await sg?.stop();
});

for (const [variant, resourceScopes] of [['v2', 'patient/Patient.rs patient/Condition.rs'], ['v1', 'patient/Patient.read patient/Condition.read']]) {
  test(`E5 EHR launch from /admin/launch, SMART ${variant} scopes: fhirclient gets the patient in context and reads it`, async () => {
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const { clientId } = await registerClient(page, sg.httpURL, {
        client_name: `e2e EHR test app ${variant}`,
        redirect_uris: [host.callbackURL],
        launch_uri: `${host.origin}/launch`,
        scope: `launch openid fhirUser ${resourceScopes}`,
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code'],
      }, admin);
      // The launch URI carries no client id: the app takes it from its config.
      const scope = `launch openid fhirUser ${resourceScopes}`;
      host.config = { clientId, scope };

      const launched = page.waitForRequest((r) => r.isNavigationRequest() && r.url().startsWith(`${host.origin}/launch?`));
      await ehrLaunch(page, sg.httpURL, { clientId, patient: ada.id, ...admin });
      const launchURL = new URL((await launched).url());
      assert.equal(launchURL.origin + launchURL.pathname, `${host.origin}/launch`);
      assert.equal(launchURL.searchParams.get('iss'), `${sg.httpURL}/fhir`);
      assert.ok(launchURL.searchParams.get('launch'), 'launch parameter present');

      await completeAuthorization(page, {
        appOrigin: host.origin, done: (u) => u.href.startsWith(host.callbackURL), ...admin,
      });
      const result = await readAppResult(page);
      assert.equal(result.status, 'ok', result.error);
      assert.equal(result['patient-id'], ada.id);
      assert.equal(result['patient-name'], ada.name);
      const granted = scopeSet(result.scope);
      for (const s of scopeSet(resourceScopes)) assert.ok(granted.has(s), `granted scope "${result.scope}" lacks ${s}`);
      const conditions = await page.evaluate((id) => window.smartClient
        .request(`Condition?patient=${id}`, { flat: true }).then((l) => l.map((c) => c.code.text), (e) => `HTTP ${e.status}`), ada.id);
      assert.deepEqual(conditions, ['Hypertension']);
    } finally {
      await browser.close();
    }
  });
}
