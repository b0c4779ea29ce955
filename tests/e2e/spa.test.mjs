// SPDX-License-Identifier: Apache-2.0
// Aidbox's single-page app, end to end: deploy/aidbox-demo.yaml applied unchanged with authctl,
// the implicit flow for its `web` client in headless Chromium (the sign-in page, then the
// redirect to the app's callback with the token in its fragment; nothing listens on
// localhost:8080), then the app's calls with the access token alone, as the app's script makes
// them: the 2FA JSON API to enrol (codes from oathtool) and DELETE /Session to log out.
//
// Environment (set by ./run): E2E_BASE_URL, E2E_TMP, E2E_CHROMIUM, E2E_AUTHCTL,
// E2E_AUTHD_TARGET, E2E_AIDBOX_DEMO.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BASE, TMP, AUTHCTL, TARGET, authctl, oathtool, launchPersistent } from './lib/util.mjs';

const MANIFEST = process.env.E2E_AIDBOX_DEMO;
const CALLBACK = 'http://localhost:8080/callback'; // the demo manifest's redirect_uri
const EMAIL = 'spa@example.com';
const PASSWORD = 'a long enough password for the spa';

// The app's call to the edge with its access token (a JSON body for POST).
async function call(method, pathname, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`${BASE}${pathname}`,
    { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

test('single-page app: implicit flow, enrol 2FA and log out with the access token',
  { timeout: 120000 }, async () => {
    assert.ok(BASE && TMP && AUTHCTL && TARGET && MANIFEST, 'run me through tests/e2e/run');
    authctl(['apply', '-f', MANIFEST]);
    authctl(['user', 'create', '--email', EMAIL, '--password-stdin'], `${PASSWORD}\n`);

    const profile = fs.mkdtempSync(path.join(TMP, 'chromium-profile-'));
    const context = await launchPersistent(profile);
    let token;
    try {
      const page = context.pages()[0] || await context.newPage();
      page.setDefaultTimeout(10000);
      page.setDefaultNavigationTimeout(10000);

      // Exactly the demo app's URL: no redirect_uri (one is registered), no state.
      await page.goto(`${BASE}/auth/authorize?client_id=web&response_type=token`);
      assert.match(page.url(), /\/auth\/login\?/, 'the browser is asked to sign in first');
      await page.fill('input[name="email"]', EMAIL);
      await page.fill('input[name="password"]', PASSWORD);
      await page.screenshot({ path: path.join(TMP, 'spa-login.png') });
      // The edge's last answer sends the browser to the app with the token in the fragment.
      // Nothing serves the app here (and a route cannot answer a redirect's target), so the
      // token is read where the browser got it: that answer's Location.
      const [toApp] = await Promise.all([
        page.waitForResponse((resp) => (resp.headers().location || '').startsWith(CALLBACK)),
        page.click('button:has-text("Sign in")', { noWaitAfter: true }),
      ]);
      const url = new URL(toApp.headers().location);
      assert.equal(`${url.origin}${url.pathname}`, CALLBACK);
      const frag = new URLSearchParams(url.hash.slice(1));
      assert.equal(frag.get('token_type').toLowerCase(), 'bearer');
      token = frag.get('access_token');
      assert.ok(token, `no access token in ${url.hash.slice(0, 80)}`);
    } finally {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }

    // Enrolment with the access token: the otpauth URI, a wrong code, the right one.
    let r = await call('POST', '/app/auth/two-factor/request', token, {});
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const uri = new URL(r.json.uri);
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.searchParams.get('issuer'), 'My auth', 'the demo AuthConfig\'s issuerName');
    const secret = uri.searchParams.get('secret');
    const now = Math.floor(Date.now() / 1000);
    const near = new Set([-3, -2, -1, 0, 1, 2, 3].map((k) => oathtool(secret, now + 30 * k)));
    const wrong = ['000000', '123456', '999999', '314159'].find((c) => !near.has(c));
    r = await call('POST', '/app/auth/two-factor/confirm', token, { token: wrong });
    assert.equal(r.status, 422);
    assert.equal(r.json.error, 'wrong_token');
    r = await call('POST', '/app/auth/two-factor/confirm', token, { token: oathtool(secret, now) });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.recovery_codes.length, 10);
    r = await call('POST', '/app/auth/two-factor/request', token, {});
    assert.equal(r.status, 422);
    assert.equal(r.json.error, 'already_enabled');
    assert.match(authctl(['user', 'get', '--email', EMAIL]), /twoFactor:\s+enabled/);

    // Logout with the token: the token's session ends, and the token with it.
    r = await call('DELETE', '/Session', token);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    r = await call('POST', '/app/auth/two-factor/request', token, {});
    assert.equal(r.status, 401);
    r = await call('DELETE', '/Session', token);
    assert.equal(r.status, 401);
  });
