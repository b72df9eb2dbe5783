import { readFileSync } from 'node:fs';
import { RUN_OUTCOMES, SYNC_TRIGGERS } from '../../domain/sync-history.js';
import { SYNC_STATES } from '../../domain/sync-types.js';

/**
 * GET /admin: one self-contained HTML page (no build step, nothing loaded from elsewhere). It holds no data
 * itself: the operator pastes the admin key (kept in sessionStorage for this tab only) and the script calls the
 * JSON admin routes with it. Its style and script are kept beside this file (page/admin.css, page/admin.js) so
 * they read as what they are, and are inlined here under the response's CSP nonce. The script renders every
 * string from the server with textContent: athlete names come from Strava and are attacker-controlled.
 */
const STYLE = readFileSync(new URL('./page/admin.css', import.meta.url), 'utf8');
const SCRIPT = readFileSync(new URL('./page/admin.js', import.meta.url), 'utf8');

const options = (values: readonly string[], all: string) => ['', ...values].map((v) => `<option value="${v}">${v || all}</option>`).join('');

export function renderAdminPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>strava-sync management</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<header>
<h1>strava-sync management</h1>
<form id="key-form">
  <label for="key">Admin API key</label>
  <input id="key" type="password" autocomplete="off" placeholder="ADMIN_API_KEY">
  <button type="submit" class="primary">Use key</button>
  <button type="button" id="forget">Forget</button>
  <span class="bar" id="live-bar" hidden>
    <input type="checkbox" id="auto-refresh" checked><label for="auto-refresh">Refresh every 10 s</label>
    <button type="button" id="refresh">Refresh now</button>
  </span>
</form>
<p id="status" role="status" aria-live="polite"></p>
</header>
<main id="content" hidden>

<section aria-labelledby="health-h">
  <h2 id="health-h">Health</h2>
  <p class="muted" id="health-note"></p>
  <div class="cards" id="health-cards">
    <div class="card" data-metric="webhookDelivery"><h3>Webhook delivery</h3><p class="detail">changes that came by webhook / (those + the repairs a backfill or sync found)</p><table></table></div>
    <div class="card" data-metric="backfillCompletion"><h3>Backfill completion</h3><p class="detail">backfills completed on time / backfills due (late and failed count against)</p><table></table></div>
    <div class="card" data-metric="tokenRefresh"><h3>Token refresh</h3><p class="detail">refreshes that succeeded / refreshes attempted</p><table></table></div>
    <div class="card" data-metric="latency"><h3>Sync latency</h3><p class="detail">Strava event time → row committed, median (p95, p99; webhook receipt → row)</p><table></table></div>
  </div>
  <figure id="latency-figure">
    <figcaption id="latency-caption">Event → row latency, last 24 h (events per bucket)</figcaption>
    <div id="latency-chart"></div>
  </figure>
</section>

<div class="two">
<section aria-labelledby="subscription-h">
  <h2 id="subscription-h">Webhook subscription</h2>
  <div class="panel" id="subscription-card">
    <p><span id="subscription-badge" class="badge"></span></p>
    <dl class="facts" id="subscription-facts"></dl>
    <div class="bar">
      <button type="button" id="subscription-create" class="primary">Create subscription</button>
      <button type="button" id="subscription-replace" hidden>Replace (points elsewhere)</button>
      <button type="button" id="subscription-delete" class="danger">Delete subscription</button>
      <span id="subscription-confirm" hidden>
        <button type="button" id="subscription-delete-confirm" class="danger">Yes, delete it</button>
        <button type="button" id="subscription-delete-cancel">Cancel</button>
      </span>
    </div>
    <p id="subscription-message" role="status" aria-live="polite"></p>
  </div>
</section>

<section aria-labelledby="budget-h">
  <h2 id="budget-h">Strava rate budget</h2>
  <div class="panel">
    <p id="governor-window" class="muted"></p>
    <table id="governor"><caption class="visually-hidden">Rate budget use</caption>
      <thead><tr><th scope="col">Share</th><th scope="col">15-min window</th><th scope="col">today (UTC)</th><th scope="col">refused</th></tr></thead><tbody></tbody></table>
    <div class="pair">
      <div><h3>Athletes by state</h3><dl class="facts" id="athlete-counts"></dl></div>
      <div><h3>Webhook inbox</h3><dl class="facts" id="webhook-counts"></dl></div>
    </div>
    <p id="temporal-link"></p>
  </div>
</section>
</div>

<section aria-labelledby="athletes-h">
  <h2 id="athletes-h">Athletes</h2>
  <div class="bar">
    <label for="state-filter">State</label>
    <select id="state-filter">${options(SYNC_STATES, 'all states')}</select>
    <span id="athletes-count" class="muted"></span>
  </div>
  <div class="scroll">
  <table class="wide" id="athletes-table" aria-describedby="athletes-count">
    <thead><tr>
      <th scope="col">Athlete</th><th scope="col" class="num">Activities</th><th scope="col">State</th><th scope="col">Last sync</th>
      <th scope="col">Next backfill</th><th scope="col">Last error</th><th scope="col">Workflow</th><th scope="col">Actions</th>
    </tr></thead>
    <tbody id="athletes"></tbody>
  </table>
  </div>
</section>

<div class="two">
<section aria-labelledby="failures-h">
  <h2 id="failures-h">Failures, last 24 h</h2>
  <p class="muted" id="failures-note"></p>
  <table id="failures-table" class="wide">
    <thead><tr><th scope="col">Failure type</th><th scope="col" class="num">Runs</th><th scope="col">Athletes affected</th></tr></thead>
    <tbody id="failures"></tbody>
  </table>
</section>

<section aria-labelledby="settings-h">
  <h2 id="settings-h">Settings</h2>
  <form id="settings-form" class="panel stack">
    <div class="bar"><label for="setting-backfill">Backfill interval (minutes)</label><input id="setting-backfill" name="backfillIntervalMs" type="number" min="15" step="1" required><span class="muted" id="default-backfill"></span></div>
    <div class="bar"><label for="setting-focus">Focus sync when older than (minutes)</label><input id="setting-focus" name="focusStaleAfterMs" type="number" min="1" step="1" required><span class="muted" id="default-focus"></span></div>
    <div class="bar"><input id="setting-paused" name="paused" type="checkbox"><label for="setting-paused">Pause auto sync for every athlete (webhooks are still recorded)</label></div>
    <div class="bar"><button type="submit" class="primary">Save settings</button><span id="settings-updated" class="muted"></span></div>
    <p id="settings-message" role="status" aria-live="polite"></p>
  </form>
</section>
</div>

<section aria-labelledby="sync-h">
  <h2 id="sync-h">Sync all</h2>
  <form id="sync-form" class="panel">
    <fieldset><legend>Window</legend>
      <span class="field"><input type="radio" name="mode" id="mode-quick" value="quick" checked><label for="mode-quick">quick (since the last sync)</label></span>
      <span class="field"><input type="radio" name="mode" id="mode-full" value="full"><label for="mode-full">full (the backfill window)</label></span>
    </fieldset>
    <span class="field"><label for="sync-skip">Skip athletes synced within</label><input id="sync-skip" type="text" placeholder="e.g. 15m" aria-describedby="sync-skip-hint"></span>
    <span id="sync-skip-hint" class="muted">90s, 15m, 3h, 1d; empty: none</span>
    <span class="field"><label for="sync-limit">Sync at most</label><input id="sync-limit" type="number" min="1" step="1" placeholder="all" aria-describedby="sync-limit-hint"><span id="sync-limit-hint" class="muted">athletes, stalest first</span></span>
    <button type="submit" class="primary" id="sync-all">Sync all</button>
  </form>
  <div id="sync-result" role="status" aria-live="polite" hidden>
    <h3 id="sync-result-title"></h3>
    <dl class="facts" id="sync-result-facts"></dl>
    <table id="sync-failures" hidden><caption class="visually-hidden">Failed athletes</caption><thead><tr><th scope="col">Athlete</th><th scope="col">Type</th><th scope="col">Message</th></tr></thead><tbody></tbody></table>
  </div>
</section>

<section aria-labelledby="runs-h">
  <h2 id="runs-h">Recent sync runs</h2>
  <form id="runs-filter" class="bar">
    <label for="runs-athlete">Athlete id</label><input id="runs-athlete" type="text" inputmode="numeric" pattern="[0-9]*" placeholder="any">
    <label for="runs-trigger">Trigger</label><select id="runs-trigger">${options(SYNC_TRIGGERS, 'any trigger')}</select>
    <label for="runs-outcome">Outcome</label><select id="runs-outcome">${options(RUN_OUTCOMES, 'any outcome')}</select>
    <button type="submit">Filter</button>
  </form>
  <p class="muted" id="runs-note"></p>
  <div class="scroll">
  <table class="wide" id="runs-table">
    <thead><tr><th scope="col">Started</th><th scope="col">Athlete</th><th scope="col">Trigger</th><th scope="col">Outcome</th><th scope="col">Failure</th>
      <th scope="col" class="num">Requests</th><th scope="col" class="num">Added</th><th scope="col" class="num">Updated</th><th scope="col" class="num">Deleted</th><th scope="col" class="num">Duration</th></tr></thead>
    <tbody id="runs"></tbody>
  </table>
  </div>
  <button type="button" id="runs-more" hidden>Load older runs</button>
</section>
</main>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>`;
}
