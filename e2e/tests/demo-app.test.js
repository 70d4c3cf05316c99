// PENDING: requires `serve --demo` (registers the demo app, serves
// /apps/demo/ and its generated config.json), authz + web + fhir; enable
// when merged by moving this file to e2e/tests/ (see README.md).
//
// The bundled demo app, served by smartgate itself under its CSP, does a
// standalone launch as a patient user and shows the patient's name,
// conditions, medications and latest observations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from '../lib/harness.js';
import { completeAuthorization } from '../lib/apphost.js';
import { startSmartgateWithURLs, adminToken, createPatientRecord, addUser } from '../lib/support.js';

let sg;
let ada;
const PASSWORD = 'correct horse battery staple 42';

before(async () => {
  sg = await startSmartgateWithURLs(['--demo']);
  ada = await createPatientRecord(sg.httpURL, await adminToken(sg.httpURL), { given: 'Ada', family: 'Lovelace' });
  addUser(sg, { username: 'ada-demo', password: PASSWORD, role: 'patient', fhirUser: `Patient/${ada.id}` });
});
after(async () => { await sg?.stop(); });

test('serve --demo prints the demo app URL', () => {
  assert.match(sg.stdout(), new RegExp(`${sg.httpURL.replace(/[.]/g, '\\.')}/apps/demo/`));
});

test('demo app: standalone launch as a patient shows name, conditions, medications and observations', async () => {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));

    await page.goto(`${sg.httpURL}/apps/demo/launch.html`);
    await completeAuthorization(page, {
      isApp: (u) => u.origin === sg.httpURL && u.pathname.startsWith('/apps/demo/'),
      done: (u) => u.origin === sg.httpURL && u.pathname === '/apps/demo/',
      username: 'ada-demo', password: PASSWORD,
    });
    await page.locator('[data-testid=status]').filter({ hasText: /^(Loaded\.|Something went wrong\.)$/ }).waitFor();
    const text = (id) => page.locator(`[data-testid=${id}]`).textContent();
    assert.equal(await page.locator('[data-testid=error]').isHidden(), true, await text('error'));
    assert.equal(await text('status'), 'Loaded.');
    assert.equal(await text('patient-name'), ada.name);
    assert.match(await text('conditions'), /Hypertension/);
    assert.match(await text('medications'), /lisinopril 10 MG Oral Tablet/);
    assert.match(await text('observations'), /Systolic blood pressure: 128 mm\[Hg\]/);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('serve --demo: the printed demo patient log-in shows the printed demo patient in the demo app', async () => {
  const out = sg.stdout();
  const login = out.match(/demo log-in \(patient\): user (\S+) password (\S+)/);
  const patient = out.match(/demo patient: (.+) \(Patient\/([^)]+)\)/);
  assert.ok(login, `no demo patient log-in printed:\n${out}`);
  assert.ok(patient, `no demo patient printed:\n${out}`);
  const appURL = out.match(new RegExp(`demo app: (${sg.httpURL.replace(/[.]/g, '\\.')}\\S+)`));
  assert.ok(appURL, `no demo app URL for ${sg.httpURL}:\n${out}`);
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(appURL[1]);
    await completeAuthorization(page, {
      isApp: (u) => u.origin === sg.httpURL && u.pathname.startsWith('/apps/demo/'),
      done: (u) => u.origin === sg.httpURL && u.pathname === '/apps/demo/',
      username: login[1], password: login[2],
    });
    await page.locator('[data-testid=status]').filter({ hasText: /^(Loaded\.|Something went wrong\.)$/ }).waitFor();
    const text = (id) => page.locator(`[data-testid=${id}]`).textContent();
    assert.equal(await text('status'), 'Loaded.', await text('error'));
    assert.equal(await text('patient-name'), patient[1]);
    assert.notEqual((await text('conditions')).trim(), '');
    assert.notEqual((await text('observations')).trim(), '');
  } finally {
    await browser.close();
  }
});
