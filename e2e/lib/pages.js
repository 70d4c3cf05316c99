// Drivers for smartgate's pages through the stable hooks of
// /work/shared/interface.md ("Pages: stable hooks for automation"), and for
// the SMART test app that e2e/lib/apphost.js serves. Each action that submits
// a form waits for the next document to load.

/** Clicks (or otherwise triggers) and waits until the next document has loaded. */
async function submitAndWait(page, action) {
  await Promise.all([page.waitForEvent('load'), action()]);
}

const q = (v) => JSON.stringify(String(v));

// A form's submit control: <button> that is not type=button/reset, or <input type=submit>.
const submitIn = (form) =>
  `${form} button:not([type=button]):not([type=reset]), ${form} input[type=submit]`;

/** Login page: fills input[name=username] and input[name=password] and submits. */
export async function login(page, { username, password }) {
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await submitAndWait(page, () => page.locator(submitIn('form:has(input[name=password])')).first().click());
}

/** Patient picker: chooses input[name=patient] with the given Patient id and submits. */
export async function pickPatient(page, patientId) {
  const form = `form:has(input[name=patient][value=${q(patientId)}])`;
  const choice = page.locator(`input[name=patient][value=${q(patientId)}]`);
  if (await choice.count() === 0) {
    const offered = await page.locator('input[name=patient]').evaluateAll((els) => els.map((e) => e.value));
    throw new Error(`patient picker does not offer ${patientId}; it offers ${offered.join(', ')}`);
  }
  await choice.first().check();
  await submitAndWait(page, () => page.locator(submitIn(form)).first().click());
}

/** Consent page: the scopes offered (values of input[type=checkbox][name=scope]). */
export async function consentScopes(page) {
  return page.locator('input[type=checkbox][name=scope]').evaluateAll((els) => els.map((e) => e.value));
}

/**
 * Consent page: unchecks the scopes in `uncheck`, then presses
 * button[name=decision][value=approve] (or deny when approve is false).
 */
export async function decideConsent(page, { approve = true, uncheck = [] } = {}) {
  for (const scope of uncheck) {
    await page.locator(`input[type=checkbox][name=scope][value=${q(scope)}]`).uncheck();
  }
  const value = approve ? 'approve' : 'deny';
  await submitAndWait(page, () => page.locator(`button[name=decision][value=${value}]`).click());
}

/**
 * EHR launch from /admin/launch (logs in first when the login page is shown
 * and a username is given): chooses select[name=client_id], fills
 * input[name=patient] and optionally input[name=encounter], submits; the
 * browser then loads the app's launch_uri with iss and launch.
 */
export async function ehrLaunch(page, baseURL, { clientId, patient, encounter, username, password }) {
  await page.goto(new URL('/admin/launch', baseURL).href);
  if (username !== undefined && await page.locator('input[name=password]').count() > 0) {
    await login(page, { username, password });
  }
  await page.selectOption('select[name=client_id]', clientId);
  await page.fill('input[name=patient]', patient);
  if (encounter !== undefined) await page.fill('input[name=encounter]', encounter);
  await submitAndWait(page, () => page.locator(submitIn('form:has(select[name=client_id])')).first().click());
}

/**
 * Client registration at /admin/clients/new. metadata holds RFC 7591 names
 * (client_name, redirect_uris, scope, token_endpoint_auth_method,
 * grant_types, jwks_uri, jwks, launch_uri); arrays are written one per line
 * into textareas, space separated into text inputs, and checked one by one
 * for checkboxes. Returns { clientId, clientSecret } from the elements with
 * data-client-id / data-client-secret on the result page. Logs in first
 * when the login page is shown and a username is given.
 */
export async function registerClient(page, baseURL, metadata, { username, password } = {}) {
  await page.goto(new URL('/admin/clients/new', baseURL).href);
  if (username !== undefined && await page.locator('input[name=password]').count() > 0) {
    await login(page, { username, password });
  }
  for (const [name, raw] of Object.entries(metadata)) {
    const field = page.locator(`[name=${q(name)}]`);
    const kind = await field.first().evaluate((e) => (e.tagName === 'INPUT' ? e.type : e.tagName.toLowerCase()));
    const values = Array.isArray(raw) ? raw.map(String) : [String(raw)];
    if (kind === 'checkbox' || kind === 'radio') {
      const all = await field.evaluateAll((els) => els.map((e) => e.value));
      for (const v of all) {
        const box = page.locator(`[name=${q(name)}][value=${q(v)}]`);
        if (values.includes(v)) await box.check();
        else if (kind === 'checkbox') await box.uncheck();
      }
    } else if (kind === 'select') {
      await field.selectOption(values);
    } else if (kind === 'textarea') {
      await field.fill(values.join('\n'));
    } else {
      await field.fill(values.join(' '));
    }
  }
  await submitAndWait(page, () => page.locator(submitIn('form:has([name=client_name])')).first().click());
  const read = async (attr) => {
    const el = page.locator(`[${attr}]`);
    if (await el.count() === 0) return undefined;
    return (await el.first().getAttribute(attr)) || (await el.first().textContent()).trim();
  };
  const clientId = await read('data-client-id');
  if (!clientId) throw new Error(`client registration failed: ${(await page.textContent('body')).slice(0, 500)}`);
  return { clientId, clientSecret: await read('data-client-secret') };
}

/**
 * Walks the authorization pages (login, patient picker, consent) in
 * whatever order smartgate shows them until done(url) is true for the
 * current page, e.g. the app's redirect target. App pages that are not done
 * (the launch page, while fhirclient discovers the server), i.e. those on
 * appOrigin or for which isApp(url) is true, are waited out. Throws on a page
 * it does not recognise, with its text.
 *
 * On the log-in page it logs in with username and password, or calls
 * logIn(page) instead when given (e.g. a federated log-in: a click on a
 * provider's button, then the provider's own pages). other(page, url), when
 * given, is asked first about each page that is neither done nor the app's
 * (e.g. an identity provider's) and returns true when it handled it.
 */
export async function completeAuthorization(page, {
  appOrigin, isApp = (u) => u.origin === appOrigin, done,
  username, password, logIn, other, patient, approve = true, uncheck = [], maxSteps = 10,
}) {
  let loggedIn = false;
  for (let step = 0; step < maxSteps; step++) {
    await page.waitForLoadState('load');
    const url = new URL(page.url());
    if (done(url)) return;
    if (isApp(url)) {
      // Wait until the app navigates on, or fails and says so.
      const appError = page.locator('[data-testid=error]').filter({ hasText: /\S/ });
      const outcome = await Promise.race([
        page.waitForURL((u) => u.href !== url.href, { waitUntil: 'load' }).then(() => 'moved'),
        appError.waitFor().then(() => 'failed'),
      ].map((p) => p.catch((e) => e)));
      if (outcome instanceof Error) throw outcome;
      if (outcome === 'failed') throw new Error(`the app at ${url.href} failed: ${await appError.first().textContent()}`);
      continue;
    }
    if (other && await other(page, url)) continue;
    if (await page.locator('input[name=password]').count() > 0) {
      if (loggedIn) throw new Error(`login page shown again after logging in as ${username ?? 'someone'}: ${await bodyText(page)}`);
      if (logIn) {
        await logIn(page);
      } else {
        if (username === undefined) throw new Error(`login page shown but no username given: ${url.href}`);
        await login(page, { username, password });
      }
      loggedIn = true;
      continue;
    }
    const consent = await page.locator('button[name=decision]').count() > 0;
    const picker = patient !== undefined && await page.locator('input[name=patient]').count() > 0;
    if (consent && picker) { // one page for both: choose, then decide
      await page.locator(`input[name=patient][value=${q(patient)}]`).check();
      await decideConsent(page, { approve, uncheck });
    } else if (consent) {
      await decideConsent(page, { approve, uncheck });
    } else if (picker) {
      await pickPatient(page, patient);
    } else {
      throw new Error(`unexpected page ${url.href}: ${await bodyText(page)}`);
    }
  }
  throw new Error(`authorization not complete after ${maxSteps} pages; at ${page.url()}`);
}

/** The page's text, white space collapsed, at most 500 characters (for failure messages). */
export async function bodyText(page) {
  return ((await page.textContent('body').catch(() => '')) || '').replace(/\s+/g, ' ').trim().slice(0, 500);
}

/**
 * The test app's results (apphost /launch or /callback page): waits until
 * data-testid=status is "ok" or "error" and returns every data-testid
 * element's text as an object, e.g. { status, error, scope, 'patient-id',
 * 'patient-name', 'fhir-user', ... }.
 */
export async function readAppResult(page, { timeout = 30000 } = {}) {
  await page.locator('[data-testid=status]').filter({ hasText: /^(ok|error)$/ }).waitFor({ timeout });
  return page.locator('[data-testid]').evaluateAll((els) =>
    Object.fromEntries(els.map((e) => [e.getAttribute('data-testid'), e.textContent])));
}
