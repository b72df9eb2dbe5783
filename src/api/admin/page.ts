import { SYNC_STATES } from '../../domain/sync-types.js';

/**
 * GET /admin: one self-contained HTML page (inline CSS and script, no build step). It holds no data itself:
 * the operator pastes the admin key (kept in sessionStorage for this tab only) and the script calls the JSON
 * admin routes with it. The inline script runs under a per-response CSP nonce.
 */
export function renderAdminPage(nonce: string): string {
  const stateOptions = ['', ...SYNC_STATES].map((s) => `<option value="${s}">${s || 'all states'}</option>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>strava-sync admin</title>
<style nonce="${nonce}">
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #222; }
  h1 { font-size: 1.3rem; margin: 0 0 1rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  form, .bar { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
  input[type=password] { width: 22rem; padding: .3rem; }
  button { padding: .3rem .7rem; cursor: pointer; }
  table { border-collapse: collapse; margin-top: .5rem; min-width: 40rem; }
  th, td { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; }
  th { background: #f4f4f4; }
  .cards { display: flex; gap: 1rem; flex-wrap: wrap; }
  .card { border: 1px solid #ddd; border-radius: 6px; padding: .6rem .9rem; min-width: 12rem; }
  .card dl { display: grid; grid-template-columns: auto auto; gap: .1rem .8rem; margin: 0; }
  #governor { min-width: 0; } #governor td, #governor th { text-align: right; } #governor td:first-child { text-align: left; }
  meter { width: 6rem; vertical-align: middle; }
  #status { min-height: 1.2em; } .error { color: #b00020; } .ok { color: #1b5e20; }
</style>
</head>
<body>
<h1>strava-sync management</h1>
<form id="key-form">
  <label for="key">Admin API key</label>
  <input id="key" type="password" autocomplete="off" placeholder="ADMIN_API_KEY">
  <button type="submit">Use key</button>
  <button type="button" id="forget">Forget</button>
</form>
<p id="status" role="status"></p>
<section id="overview" hidden>
  <h2>Overview</h2>
  <div class="cards">
    <div class="card"><strong>Athletes by state</strong><dl id="athlete-counts"></dl></div>
    <div class="card"><strong>Webhook inbox</strong><dl id="webhook-counts"></dl></div>
    <div class="card"><strong>Strava rate budget</strong> <span id="governor-window"></span>
      <table id="governor"><thead><tr><th></th><th>15-min window</th><th>today (UTC)</th><th>refused</th></tr></thead><tbody></tbody></table>
    </div>
  </div>
  <p id="temporal-link"></p>
</section>
<section id="athletes-section" hidden>
  <h2>Athletes</h2>
  <div class="bar">
    <label for="state-filter">State</label>
    <select id="state-filter">${stateOptions}</select>
    <button type="button" id="refresh">Refresh</button>
    <button type="button" id="sync-all">Sync all</button>
  </div>
  <table>
    <thead><tr><th>Athlete</th><th>State</th><th>Last sync</th><th>Last backfill</th><th>Scopes</th><th>Workflow</th><th></th></tr></thead>
    <tbody id="athletes"></tbody>
  </table>
</section>
<script nonce="${nonce}">
(() => {
  const $ = (id) => document.getElementById(id);
  const status = (text, cls) => { $('status').textContent = text; $('status').className = cls || ''; };
  let key = sessionStorage.getItem('strava-sync-admin-key') || '';

  async function api(path, options = {}) {
    const res = await fetch(path, {
      ...options,
      headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json', ...(options.headers || {}) },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok && res.status !== 202) throw new Error((body.error && body.error.message) || ('HTTP ' + res.status));
    return body;
  }
  function fillCounts(dl, counts) {
    dl.replaceChildren();
    const entries = Object.entries(counts);
    if (entries.length === 0) entries.push(['none', 0]);
    for (const [name, count] of entries) {
      const dt = document.createElement('dt'); dt.textContent = name;
      const dd = document.createElement('dd'); dd.textContent = String(count);
      dl.append(dt, dd);
    }
  }
  // Used against limit for the whole app, then what each priority may use of it and how often it was refused.
  function renderGovernor(g) {
    const body = $('governor').tBodies[0]; body.replaceChildren();
    const used = (u, limit) => {
      const td = document.createElement('td');
      const meter = document.createElement('meter'); meter.max = limit; meter.value = u; meter.high = limit * 0.9;
      td.append(meter, ' ' + u + ' / ' + limit); return td;
    };
    const all = document.createElement('tr'); cell(all, 'used (all)');
    all.append(used(g.window.used, g.window.limit), used(g.day.used, g.day.limit)); cell(all, '');
    body.append(all);
    for (const priority of ['realtime', 'interactive', 'background']) {
      const row = document.createElement('tr'); cell(row, priority + ' may use');
      cell(row, String(g.allowed[priority].window)); cell(row, String(g.allowed[priority].day));
      cell(row, String(g.refused[priority])); body.append(row);
    }
    $('governor-window').textContent = '(window resets ' + new Date(g.windowStart + 15 * 60000).toLocaleTimeString() + ')';
  }
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : 'never');
  function cell(row, text) { const td = document.createElement('td'); td.textContent = text; row.append(td); return td; }

  async function load() {
    if (!key) { status('Paste the admin API key to load the page.'); return; }
    status('Loading…');
    try {
      const state = $('state-filter').value;
      const [overview, list] = await Promise.all([
        api('/admin/overview'),
        api('/admin/athletes' + (state ? '?state=' + encodeURIComponent(state) : '')),
      ]);
      fillCounts($('athlete-counts'), overview.athletesByState);
      fillCounts($('webhook-counts'), overview.webhookEventsByOutcome);
      renderGovernor(overview.governor);
      const link = $('temporal-link'); link.replaceChildren();
      if (overview.temporalUiUrl) {
        const a = document.createElement('a'); a.href = overview.temporalUiUrl; a.textContent = 'All workflows in the Temporal UI';
        a.target = '_blank'; a.rel = 'noopener'; link.append(a);
      }
      const body = $('athletes'); body.replaceChildren();
      for (const athlete of list.athletes) {
        const row = document.createElement('tr');
        row.dataset.athleteId = String(athlete.athleteId);
        cell(row, String(athlete.athleteId));
        cell(row, athlete.state);
        cell(row, when(athlete.lastSyncAt));
        cell(row, when(athlete.lastBackfillAt));
        cell(row, athlete.scopes.join(', '));
        const wf = cell(row, '');
        if (athlete.temporalUiUrl) {
          const a = document.createElement('a'); a.href = athlete.temporalUiUrl; a.textContent = athlete.workflowId;
          a.target = '_blank'; a.rel = 'noopener'; wf.append(a);
        } else wf.textContent = athlete.workflowId;
        const actions = cell(row, '');
        if (athlete.state !== 'revoked') {
          const button = document.createElement('button'); button.type = 'button'; button.textContent = 'Sync';
          button.addEventListener('click', () => syncIds([athlete.athleteId]));
          actions.append(button);
        }
        body.append(row);
      }
      $('overview').hidden = false; $('athletes-section').hidden = false;
      status(list.athletes.length + ' athlete(s) loaded at ' + new Date().toLocaleTimeString(), 'ok');
    } catch (error) {
      status(error.message, 'error');
    }
  }
  async function syncIds(ids) {
    status('Requesting sync…');
    try {
      const result = await api('/admin/sync', { method: 'POST', body: JSON.stringify(ids ? { athleteIds: ids } : {}) });
      status('Sync accepted for ' + result.accepted.length + ', skipped ' + result.skipped.length + ', failed ' + result.failed.length, result.failed.length ? 'error' : 'ok');
    } catch (error) {
      status(error.message, 'error');
    }
  }
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    key = $('key').value.trim();
    sessionStorage.setItem('strava-sync-admin-key', key);
    $('key').value = '';
    load();
  });
  $('forget').addEventListener('click', () => { key = ''; sessionStorage.removeItem('strava-sync-admin-key'); status('Key forgotten.'); });
  $('refresh').addEventListener('click', load);
  $('state-filter').addEventListener('change', load);
  $('sync-all').addEventListener('click', () => syncIds(null));
  load();
})();
</script>
</body>
</html>`;
}
