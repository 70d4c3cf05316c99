// Static assets that SMART apps and smartgate serve: the vendored
// fhirclient is the file its README names, and the SMART style document has
// the SMART App Launch 2 styling keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { repoRoot } from '../lib/harness.js';

const vendor = join(repoRoot, 'static', 'vendor', 'fhirclient');

test('vendored fhirclient matches the version and sha256 in its README, with its licence', () => {
  const readme = readFileSync(join(vendor, 'README.md'), 'utf8');
  const [, file, sha] = readme.match(/sha256 of (\S+) \| `([0-9a-f]{64})`/);
  const got = createHash('sha256').update(readFileSync(join(vendor, file))).digest('hex');
  assert.equal(got, sha);
  const script = readFileSync(join(repoRoot, 'scripts', 'vendor-fhirclient'), 'utf8');
  const version = script.match(/^VERSION=(\S+)$/m)[1];
  assert.match(readme, new RegExp(`\\| version \\| ${version.replace(/\./g, '\\.')} \\|`));
  assert.match(readFileSync(join(vendor, 'LICENSE'), 'utf8'), /Apache License, Version 2\.0/);
});

test('smart-style.json has exactly the SMART styling keys, each a non-empty string', () => {
  const style = JSON.parse(readFileSync(join(repoRoot, 'static', 'smart-style.json'), 'utf8'));
  assert.deepEqual(Object.keys(style).sort(), [
    'color_background', 'color_error', 'color_highlight', 'color_modal_backdrop', 'color_success',
    'color_text', 'dim_border_radius', 'dim_font_size', 'dim_spacing_size', 'font_family_body',
    'font_family_heading',
  ]);
  for (const [k, v] of Object.entries(style)) {
    assert.equal(typeof v, 'string', k);
    assert.notEqual(v, '', k);
  }
});
