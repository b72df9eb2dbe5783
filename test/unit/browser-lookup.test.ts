import { describe, expect, it } from 'vitest';
import { findChromium } from '../helpers/browser.js';

describe('findChromium (which browser the browser tests drive)', () => {
  it('CHROMIUM_PATH wins when it names an executable', () => {
    expect(findChromium({ CHROMIUM_PATH: process.execPath })).toEqual({ found: true, path: process.execPath });
  });

  it('a CHROMIUM_PATH that is not an executable is reported as such, not replaced by another browser', () => {
    expect(findChromium({ CHROMIUM_PATH: '/nonexistent/chromium' })).toEqual({ found: false, reason: 'CHROMIUM_PATH=/nonexistent/chromium is not an executable file' });
  });

  it('without CHROMIUM_PATH: the chromium package binary, or a reason naming where it looked', () => {
    const lookup = findChromium({});
    if (lookup.found) expect(['/usr/bin/chromium', '/usr/bin/chromium-browser']).toContain(lookup.path);
    else expect(lookup.reason).toBe('no Chromium at /usr/bin/chromium or /usr/bin/chromium-browser');
  });
});
