// SPDX-License-Identifier: Apache-2.0
// Accessibility of the edge's pages: axe-core (lib/axe.mjs) in headless Debian Chromium.
//
// Environment (set by ./run): E2E_BASE_URL, E2E_TMP, E2E_CHROMIUM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { checkA11y } from './lib/axe.mjs';

const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// The check itself: a page with a critical violation (an unlabelled field) and a serious one
// (text at 1.6:1) must fail with both named; the same page fixed must pass.
test('checkA11y fails on serious and critical violations, passes a clean page', async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = await browser.newPage();
    await page.setContent('<!doctype html><html lang="en"><head><title>bad</title></head><body>'
      + '<main><h1>Bad</h1><input type="text" name="x">'
      + '<p style="color:#ccc;background:#fff">faint</p></main></body></html>');
    await assert.rejects(checkA11y(page, 'bad page'), (e) => {
      assert.match(e.message, /bad page .*2 serious\/critical/);
      assert.match(e.message, /\[critical\] label:/);
      assert.match(e.message, /\[serious\] color-contrast:/);
      return true;
    });
    await page.setContent('<!doctype html><html lang="en"><head><title>good</title></head>'
      + '<body><main><h1>Good</h1><label for="x">Name</label><input id="x" type="text">'
      + '<p style="color:#333;background:#fff">readable</p></main></body></html>');
    await checkA11y(page, 'good page');
  } finally {
    await browser.close();
  }
});
