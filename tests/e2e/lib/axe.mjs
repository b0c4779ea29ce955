// SPDX-License-Identifier: Apache-2.0
// The accessibility check every browser test calls on each page it shows:
//
//   import { checkA11y } from './lib/axe.mjs';
//   await checkA11y(page, 'login, phone, dark');
//
// Runs axe-core (the npm package pinned in package.json) in the page as it is now (so emulate
// the size and colour scheme first, and let the page settle) and throws an AssertionError
// listing every violation of impact "serious" or "critical": rule, what it asks, and each
// offending element with axe's summary of why. Lesser impacts are returned, not fatal.
//
// axe is injected through page.evaluate (DevTools' Runtime.evaluate), which the edge's
// Content-Security-Policy (default-src 'self': no inline script) does not apply to, so the pages
// are checked exactly as they are served. The page's own scripts are not involved.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = require('axe-core').source;

const FATAL = new Set(['serious', 'critical']);

// Returns axe's violations (all impacts) for the page; throws when one is serious or critical.
// options.exclude: CSS selectors axe skips (say why at the call site); options.rules: axe's
// per-rule options, e.g. { 'color-contrast': { enabled: false } } (the same: say why).
export async function checkA11y(page, label, options = {}) {
  const injected = await page.evaluate(() => typeof window.axe === 'object');
  if (!injected)
    await page.evaluate(axeSource);
  const result = await page.evaluate(async ({ exclude, rules }) => {
    const context = exclude.length ? { exclude } : document;
    const r = await window.axe.run(context, {
      resultTypes: ['violations'],
      rules: rules || {},
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({
        target: n.target.join(' '),
        html: n.html.slice(0, 160),
        summary: (n.failureSummary || '').replace(/\s+/g, ' ').trim(),
      })),
    }));
  }, { exclude: options.exclude || [], rules: options.rules || {} });

  const fatal = result.filter((v) => FATAL.has(v.impact));
  if (fatal.length) {
    const lines = [`${label} (${page.url()}): ${fatal.length} serious/critical axe violation(s)`];
    for (const v of fatal) {
      lines.push(`- [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})`);
      for (const n of v.nodes)
        lines.push(`    ${n.target}  ${n.html}\n      ${n.summary}`);
    }
    assert.fail(lines.join('\n'));
  }
  return result;
}
