// SPDX-License-Identifier: Apache-2.0
// What the browser tests share (tests/e2e/*.test.mjs):
//
//   import { BASE, TMP, authctl, oathtool, Authenticator, launchChromium } from './lib/util.mjs';
//
// The servers' addresses and files as tests/e2e/run exports them (E2E_*; undefined when a test
// runs servers of its own), authctl against the shared authd, oathtool, an authenticator app
// that never gives the same TOTP step twice, and Debian's Chromium launched headless with the
// same flags everywhere.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

export const BASE = process.env.E2E_BASE_URL;
export const EDGE_LOG = process.env.E2E_EDGE_LOG;
export const TMP = process.env.E2E_TMP;
export const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
export const AUTHCTL = process.env.E2E_AUTHCTL;
export const TARGET = process.env.E2E_AUTHD_TARGET;
export const BUILD = process.env.AUTHD_BUILD_DIR;

// Chromium's flags: no sandbox (CI runs as root), nothing fetched in the background.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync'];

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// authctl ARGS against the shared authd; input goes to its standard input. Its stdout; throws
// on a non-zero exit.
export function authctl(args, input) {
  return execFileSync(AUTHCTL, ['--authd', TARGET, ...args],
    { encoding: 'utf8', timeout: 30000, input });
}

// The six-digit TOTP code of secret (base32) at the unix time given.
export function oathtool(secret, unix) {
  const code = execFileSync('oathtool', ['--totp', '-b', secret, '--now', `@${unix}`],
    { encoding: 'utf8', timeout: 10000 }).trim();
  assert.match(code, /^\d{6}$/);
  return code;
}

// An authenticator app holding one secret. fresh() is the code to type now: the oldest TOTP
// step authd accepts (previous while >= 5 s of the current one are left, current, next) that
// is newer than the last one used, since authd accepts each step once. Waits for the next step
// only when all three are used (bounded: one period). period: the AuthConfig's
// twoFactor.period.
export class Authenticator {
  constructor(secret, period = 30) {
    this.secret = secret;
    this.period = period;
    this.last = null;
  }

  async fresh() {
    const period = this.period;
    const deadline = Date.now() + (period + 5) * 1000;
    for (;;) {
      const now = Date.now() / 1000;
      const cur = Math.floor(now / period);
      const left = period - (now % period);
      for (let step = left >= 5 ? cur - 1 : cur; step <= cur + 1; step++) {
        if (this.last === null || step > this.last) {
          this.last = step;
          return oathtool(this.secret, step * period + 1);
        }
      }
      assert.ok(Date.now() < deadline, 'no TOTP step left to use');
      await sleep(left * 1000 + 50);
    }
  }

  // A six-digit code that is the code of no step near now.
  wrong() {
    const now = Math.floor(Date.now() / 1000);
    const near = new Set([-3, -2, -1, 0, 1, 2, 3].map((k) => oathtool(this.secret,
      now + this.period * k)));
    return ['000000', '123456', '999999', '314159'].find((c) => !near.has(c));
  }
}

// Chromium, headless, with CHROMIUM_ARGS; options are added to playwright's launch options.
export function launchChromium(options = {}) {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    ...options });
}

// The same with a profile directory of its own (cookies kept across pages): a BrowserContext.
export function launchPersistent(profile, options = {}) {
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true,
    args: CHROMIUM_ARGS, ...options });
}
