// The administrators' people and groups pages (issue 11 item 7) in a real
// browser, through their form names and data- hooks: an administrator
// creates a person, finds them by search, disables and enables them, resets
// their password (the person then logs in with it) and creates a group with
// a scope ceiling that the person joins. One server and one browser for the
// file; the steps build on each other, in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from '../lib/harness.js';
import { login } from '../lib/pages.js';
import { startSmartgateWithURLs, ADMIN_PASSWORD } from '../lib/support.js';

let sg;
let browser;
let page;
before(async () => {
  sg = await startSmartgateWithURLs();
  browser = await launchBrowser();
  page = await browser.newPage();
});
after(async () => { await browser?.close(); await sg?.stop(); });

const PERSON = { username: 'ada.lovelace', password: 'analytical engine 1843' };
let personId;

/** Clicks and waits until the next document has loaded. */
async function submitAndWait(action) {
  await Promise.all([page.waitForEvent('load'), action()]);
}

/** Opens path as the administrator, logging in when the log-in page is shown. */
async function asAdmin(path) {
  await page.goto(new URL(path, sg.httpURL).href);
  if (await page.locator('input[name=password]').count() > 0 && await page.locator('input[name=username]').count() > 0) {
    await login(page, { username: 'admin', password: ADMIN_PASSWORD });
  }
  assert.equal(new URL(page.url()).pathname, new URL(path, sg.httpURL).pathname, `landed on ${page.url()}`);
}

/**
 * Logs in as someone on a clean browser (no administrator's session) and
 * reports whether the log-in page let them in; the cookies are cleared
 * again afterwards, so that asAdmin logs in anew.
 */
async function logsIn({ username, password }) {
  await page.context().clearCookies();
  await page.goto(new URL('/login', sg.httpURL).href);
  await login(page, { username, password });
  const stillOnLogin = await page.locator('input[name=password]').count() > 0;
  const alert = await page.locator('[role=alert]').count() > 0;
  await page.context().clearCookies();
  return !stillOnLogin && !alert;
}

test('an administrator creates a person', async () => {
  await asAdmin('/admin/users/new');
  await page.fill('input[name=userName]', 'Ada.Lovelace');
  await page.fill('input[name=givenName]', 'Ada');
  await page.fill('input[name=familyName]', 'Lovelace');
  await page.fill('input[name=displayName]', 'Ada Lovelace');
  await page.fill('input[name=email]', 'ada@example.org');
  await page.fill('input[name=fhirUser]', 'Practitioner/ada-1');
  await page.locator('input[name=roles][value=patient]').uncheck();
  await page.locator('input[name=roles][value=practitioner]').check();
  // A weak password is refused next to its field, and not put back.
  await page.fill('input[name=password]', 'short');
  await submitAndWait(() => page.locator('form:has(input[name=userName]) button[type=submit]').click());
  assert.equal(await page.locator('[data-error-for=password]').count(), 1, 'the policy message is next to the password field');
  assert.equal(await page.inputValue('input[name=password]'), '');
  await page.fill('input[name=password]', PERSON.password);
  await submitAndWait(() => page.locator('form:has(input[name=userName]) button[type=submit]').click());
  personId = await page.locator('[data-user-id]').getAttribute('data-user-id');
  assert.ok(personId, `the person's page: ${page.url()}`);
  assert.equal(await page.inputValue('input[name=userName]'), PERSON.username, 'the user name is normalised');
  assert.equal(await page.inputValue('input[name=fhirUser]'), 'Practitioner/ada-1');
  assert.ok(await page.locator('input[name=roles][value=practitioner]').isChecked());
  assert.ok(await logsIn(PERSON), 'the new person logs in with the password set at creation');
});

test('the administrator finds the person by search', async () => {
  await asAdmin('/admin/users');
  for (const q of ['lovelace', 'ADA@example', 'ada love']) {
    await page.fill('input[name=q]', q);
    await submitAndWait(() => page.locator('form[role=search] button').click());
    const rows = await page.locator('[data-user-name]').evaluateAll((els) => els.map((e) => e.getAttribute('data-user-name')));
    assert.deepEqual(rows, [PERSON.username], `search ${q}`);
    assert.equal(new URL(page.url()).searchParams.get('q'), q);
  }
  await page.fill('input[name=q]', 'no such person at all');
  await submitAndWait(() => page.locator('form[role=search] button').click());
  assert.equal(await page.locator('[data-user-name]').count(), 0);
});

test('the administrator disables and enables the person', async () => {
  await asAdmin(`/admin/users/${personId}`);
  await submitAndWait(() => page.locator('button[name=action][value=disable]').click());
  assert.equal(await page.locator('dd[data-active]').getAttribute('data-active'), 'false');
  assert.equal(await logsIn(PERSON), false, 'a disabled person cannot log in');
  await asAdmin(`/admin/users/${personId}`);
  await submitAndWait(() => page.locator('button[name=action][value=enable]').click());
  assert.equal(await page.locator('dd[data-active]').getAttribute('data-active'), 'true');
  await page.goto(new URL(`/admin/users?q=${PERSON.username}`, sg.httpURL).href);
  assert.equal(await page.locator(`[data-user-name="${PERSON.username}"] [data-active]`).getAttribute('data-active'), 'true');
  assert.ok(await logsIn(PERSON), 'an enabled person logs in again');
});

test('the administrator resets the password and the person logs in with the new one', async () => {
  await asAdmin(`/admin/users/${personId}`);
  await submitAndWait(() => page.locator('button[name=generate]').click());
  const generated = await page.locator('[data-new-password]').getAttribute('data-new-password');
  assert.ok(generated && generated.length >= 12, 'a generated password is shown');
  assert.ok(!page.url().includes(generated), 'not in the URL');
  await page.reload();
  assert.equal(await page.locator('[data-new-password]').count(), 0, 'shown only once');
  assert.equal(await logsIn(PERSON), false, 'the old password no longer works');
  assert.ok(await logsIn({ username: PERSON.username, password: generated }), 'the generated password works');
  // A password the administrator types.
  await asAdmin(`/admin/users/${personId}`);
  await page.fill('input[name=new_password]', 'a password typed by the admin');
  await submitAndWait(() => page.locator('button[name=action][value=set]').click());
  assert.equal(await page.locator('[role=status]').count(), 1);
  assert.ok(await logsIn({ username: PERSON.username, password: 'a password typed by the admin' }));
});

test('the administrator creates a group with a ceiling and adds the person', async () => {
  await asAdmin('/admin/groups/new');
  await page.fill('input[name=displayName]', 'Nurses');
  await page.fill('textarea[name=ceiling]', 'user/*.rs\nopenid');
  await submitAndWait(() => page.locator('form:has(textarea[name=ceiling]) button[type=submit]').click());
  assert.equal(await page.locator('[data-error-for=ceiling]').count(), 1, 'a scope that is no resource scope is refused');
  assert.match(await page.locator('[data-ceiling-help]').textContent(), /at most these scopes/);
  await page.fill('textarea[name=ceiling]', 'user/*.rs');
  await submitAndWait(() => page.locator('form:has(textarea[name=ceiling]) button[type=submit]').click());
  const groupId = await page.locator('[data-group-id]').getAttribute('data-group-id');
  assert.ok(groupId, `the group's page: ${page.url()}`);
  assert.equal((await page.inputValue('textarea[name=ceiling]')).trim(), 'user/*.rs');
  await page.fill('input[name=add]', PERSON.username);
  await submitAndWait(() => page.locator('form.add-member button').click());
  assert.equal(await page.locator(`[data-member="${personId}"]`).count(), 1, 'the person is a member');
  await page.goto(new URL(`/admin/users/${personId}`, sg.httpURL).href);
  assert.equal(await page.locator(`[data-group-link="${groupId}"]`).textContent(), 'Nurses', "the person's page links the group");
  await page.goto(new URL('/admin/groups?q=nurse', sg.httpURL).href);
  assert.equal(await page.locator(`[data-group-row="${groupId}"]`).count(), 1, 'the group is found by search');
});
