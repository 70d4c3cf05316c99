// Accessibility checks for smartgate's pages: axe-core (npm, pinned in
// package.json) injected into the page under test, run against WCAG 2.0 and
// 2.1 levels A and AA, plus two checks of our own that axe leaves to
// judgment: every visible field has an accessible name, and the page fits a
// phone's width without scrolling sideways.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** The WCAG tags the pages are held to (issue 15 item 10: WCAG 2.1 AA). */
export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

/**
 * Runs axe-core on page's current document and returns the violations of
 * impact serious or critical, each { id, impact, help, helpUrl, targets:
 * [{ selector, summary }] }. An empty array means the page passes.
 */
export async function axeViolations(page) {
  if (!await page.evaluate(() => typeof window.axe === 'object')) {
    // Evaluated through the DevTools protocol rather than added as a
    // <script>: smartgate's pages have a strict Content-Security-Policy
    // (default-src 'none'), which blocks page.addScriptTag, and the check
    // must see the pages as served, CSP included.
    await page.evaluate(axeSource);
  }
  const violations = await page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    const result = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      targets: v.nodes.map((n) => ({ selector: n.target.join(' '), summary: n.failureSummary || '' })),
    }));
  }, WCAG_TAGS);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Violations as text that says what to fix: rule, help, where, and why. */
export function formatViolations(violations) {
  return violations.map((v) => {
    const nodes = v.targets.slice(0, 8).map((t) => {
      const why = t.summary.replace(/\s+/g, ' ').trim().slice(0, 300);
      return `    at ${t.selector}${why ? `\n      ${why}` : ''}`;
    });
    if (v.targets.length > 8) nodes.push(`    … and ${v.targets.length - 8} more`);
    return `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${nodes.join('\n')}`;
  }).join('\n');
}

/**
 * The visible input, select and textarea elements (other than hidden
 * inputs and buttons) that have no accessible name: no <label>, no
 * aria-label or aria-labelledby, no title. Returns a description of each.
 */
export async function unlabelledFields(page) {
  return page.evaluate(() => {
    const visible = (e) => {
      const s = getComputedStyle(e);
      const r = e.getBoundingClientRect();
      return s.display !== 'none' && s.visibility !== 'hidden' && (r.width > 0 || r.height > 0);
    };
    const named = (e) => {
      if (e.labels && [...e.labels].some((l) => l.textContent.trim() !== '')) return true;
      if ((e.getAttribute('aria-label') || '').trim() !== '') return true;
      const by = (e.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean);
      if (by.some((id) => (document.getElementById(id)?.textContent || '').trim() !== '')) return true;
      return (e.getAttribute('title') || '').trim() !== '';
    };
    const skip = new Set(['hidden', 'submit', 'button', 'reset', 'image']);
    return [...document.querySelectorAll('input, select, textarea')]
      .filter((e) => !(e.tagName === 'INPUT' && skip.has(e.type)))
      .filter((e) => visible(e) && !named(e))
      .map((e) => `${e.tagName.toLowerCase()}${e.type && e.tagName === 'INPUT' ? `[type=${e.type}]` : ''}${e.name ? `[name=${e.name}]` : ''}${e.id ? `#${e.id}` : ''}`);
  });
}

/**
 * Whether the page scrolls sideways at its current viewport: returns
 * null when it fits, else { scrollWidth, clientWidth, widest } naming the
 * elements that reach furthest past the right edge (what to fix).
 */
export async function horizontalOverflow(page) {
  return page.evaluate(() => {
    const root = document.documentElement;
    if (root.scrollWidth <= root.clientWidth + 1) return null;
    const describe = (e) => {
      let s = e.tagName.toLowerCase();
      if (e.id) s += `#${e.id}`;
      if (e.classList.length) s += `.${[...e.classList].join('.')}`;
      return s;
    };
    // Content inside a container that scrolls (or clips) on its own does
    // not widen the page: name only what sticks out of the body itself.
    const clipped = (e) => {
      for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== 'visible') return true;
      }
      return false;
    };
    // An element sticks out when its box reaches past the right edge, or
    // when its own content (a long word in a text node) overflows it; the
    // innermost such elements are what to fix.
    const sticksOut = (e) => e.getBoundingClientRect().right + window.scrollX > root.clientWidth + 1 ||
      (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible');
    const candidates = [...document.body.querySelectorAll('*')].filter((e) => !clipped(e) && sticksOut(e));
    const widest = candidates
      .filter((e) => !candidates.some((o) => o !== e && e.contains(o)))
      .slice(0, 5)
      .map((e) => `${describe(e)} “${e.textContent.replace(/\s+/g, ' ').trim().slice(0, 60)}”`);
    return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, widest };
  });
}

/** A phone's viewport (iPhone SE class), for horizontalOverflow. */
export const PHONE = { width: 375, height: 667 };

/**
 * Every check at once on page's current document: axe (serious/critical),
 * unlabelled fields, and, at the phone viewport (the viewport is restored
 * afterwards), sideways scrolling. Returns a list of problem strings, empty
 * when the page passes; each names the page, the rule and the elements.
 */
export async function accessibilityProblems(page, label = page.url()) {
  const problems = [];
  const violations = await axeViolations(page);
  if (violations.length) problems.push(`${label}: axe found serious or critical violations:\n${formatViolations(violations)}`);
  const unlabelled = await unlabelledFields(page);
  if (unlabelled.length) problems.push(`${label}: fields without an accessible name (add a <label>): ${unlabelled.join(', ')}`);
  const before = page.viewportSize();
  await page.setViewportSize(PHONE);
  try {
    const over = await horizontalOverflow(page);
    if (over) {
      problems.push(`${label}: at ${PHONE.width}x${PHONE.height} the page scrolls sideways (scrollWidth ${over.scrollWidth} > clientWidth ${over.clientWidth}); widest: ${over.widest.join(', ')}`);
    }
    const phoneViolations = (await axeViolations(page)).filter((v) => !violations.some((w) => w.id === v.id));
    if (phoneViolations.length) problems.push(`${label} (phone width): axe found serious or critical violations:\n${formatViolations(phoneViolations)}`);
  } finally {
    if (before) await page.setViewportSize(before);
  }
  return problems;
}
