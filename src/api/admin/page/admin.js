/*
 * The management page's script (inlined into GET /admin under the response's CSP nonce; plain browser
 * JavaScript, no build step). Every string from the server is set with textContent, never parsed as HTML:
 * athlete names come from Strava and are attacker-controlled.
 *
 * Live: every 10 s it reloads what the sections show and updates them in place (rows keyed by id, form inputs
 * the operator is editing left alone), so refreshing never moves the operator's scroll position, focus, filters or
 * half-typed values.
 */
(() => {
  'use strict';
  const REFRESH_MS = 10000;
  const KEY_STORAGE = 'strava-sync-admin-key';
  const $ = (id) => document.getElementById(id);
  let key = sessionStorage.getItem(KEY_STORAGE) || '';
  let athletesById = new Map();
  let timer = null;
  let refreshing = null;

  // ---------- small helpers ----------
  function status(text, cls) {
    $('status').textContent = text;
    $('status').className = cls || '';
  }
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'className') node.className = value;
      else if (name === 'text') node.textContent = value;
      else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }
  const setText = (node, text) => {
    const value = text === null || text === undefined ? '' : String(text);
    if (node.textContent !== value) node.textContent = value;
  };
  function fillFacts(dl, entries) {
    dl.replaceChildren();
    for (const [name, value] of entries) dl.append(el('dt', { text: name }), value instanceof Node ? el('dd', {}, value) : el('dd', { text: String(value) }));
  }
  const percent = (rate) => (rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(rate >= 0.9995 || rate === 0 ? 0 : 1)} %`);
  function duration(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${+(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
    if (ms < 3600000) return `${Math.round(ms / 60000)} min`;
    if (ms < 86400000) return `${+(ms / 3600000).toFixed(1)} h`;
    return `${+(ms / 86400000).toFixed(1)} d`;
  }
  function ago(iso) {
    if (!iso) return 'never';
    const diff = Date.now() - Date.parse(iso);
    if (diff < 0) return `in ${duration(-diff)}`;
    if (diff < 5000) return 'just now';
    return `${duration(diff)} ago`;
  }
  /** A time as "3 min ago", the exact time in its title. */
  function when(iso, empty) {
    const span = el('span', { text: iso ? ago(iso) : empty || 'never' });
    if (iso) span.title = new Date(iso).toLocaleString();
    return span;
  }
  function setWhen(td, iso, empty) {
    setText(td, iso ? ago(iso) : empty || 'never');
    td.title = iso ? new Date(iso).toLocaleString() : '';
  }

  class HttpFailure extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }
  async function api(path, options = {}) {
    const res = await fetch(path, {
      ...options,
      headers: { Authorization: 'Bearer ' + key, ...(options.body ? { 'Content-Type': 'application/json' } : {}), ...(options.headers || {}) },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new HttpFailure(res.status, (body.error && body.error.message) || 'HTTP ' + res.status);
    return body;
  }
  /** A route the server does not have (yet): the section says so instead of failing the page. */
  const missing = (error) => error instanceof HttpFailure && error.status === 404;

  /** Updates tbody to one row per item (kept by key, so focus and buttons survive), in the items' order. */
  function syncRows(tbody, items, keyOf, create, update, options = {}) {
    const existing = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
    const wanted = new Set();
    let previous = null;
    for (const item of items) {
      const k = String(keyOf(item));
      wanted.add(k);
      let row = existing.get(k);
      if (!row) {
        row = create(item);
        row.dataset.key = k;
      }
      update(row, item);
      const next = previous ? previous.nextSibling : tbody.firstChild;
      if (next !== row) tbody.insertBefore(row, next);
      previous = row;
    }
    if (!options.keepOthers) for (const [k, row] of existing) if (!wanted.has(k)) row.remove();
  }
  /**
   * Renders without moving what the operator looks at: the focused control (or the first kept element in view)
   * stays at the same height on screen, however much the content above it grew or shrank. Everything is fetched
   * first and rendered here in one go, so there is no intermediate layout to jump through.
   */
  function keepPlace(render) {
    const focused = document.activeElement && document.activeElement !== document.body ? document.activeElement : null;
    const anchor = focused || [...document.querySelectorAll('main h2, main h3, main form, main tr[data-key], main .card')].find((node) => node.getBoundingClientRect().top >= 0);
    const before = anchor ? anchor.getBoundingClientRect().top : 0;
    render();
    if (anchor && anchor.isConnected) {
      const moved = anchor.getBoundingClientRect().top - before;
      if (Math.abs(moved) >= 1) window.scrollBy(0, moved);
    }
  }
  /** Fetches with a load* function and renders the result in place. */
  async function apply(load) {
    const render = await load();
    keepPlace(render);
  }
  const athleteLabel = (athleteId) => {
    const athlete = athletesById.get(athleteId);
    return athlete && athlete.name ? `${athlete.name} (${athleteId})` : String(athleteId);
  };

  // ---------- health ----------
  const WINDOWS = [['1h', 'last hour'], ['24h', 'last 24 h']];
  /** A card's table: one column per window, the number on top and what it is made of below. */
  function healthTable(card, cells) {
    const table = card.querySelector('table');
    const head = el('tr', {}, ...WINDOWS.map(([, label]) => el('th', { scope: 'col', text: label })));
    const values = el('tr', {}, ...cells.map(([value], i) => el('td', { className: 'rate', 'data-window': WINDOWS[i][0], text: value })));
    const details = el('tr', {}, ...cells.map(([, detail], i) => el('td', { className: 'detail', 'data-window': WINDOWS[i][0], text: detail })));
    table.replaceChildren(el('thead', {}, head), el('tbody', {}, values, details));
  }
  function renderHealth(health) {
    const cards = $('health-cards');
    const card = (name) => cards.querySelector(`[data-metric="${name}"]`);
    const each = (pick) => WINDOWS.map(([name]) => pick(health.windows[name]));
    healthTable(card('webhookDelivery'), each((w) => {
      const m = w.webhookDelivery;
      return [percent(m.rate), `${m.viaWebhook} by webhook, ${m.repairs} repaired`];
    }));
    healthTable(card('backfillCompletion'), each((w) => {
      const m = w.backfillCompletion;
      return [percent(m.rate), `${m.completed} of ${m.due} due; ${m.late} late, ${m.failed} failed`];
    }));
    healthTable(card('tokenRefresh'), each((w) => {
      const m = w.tokenRefresh;
      return [percent(m.rate), `${m.succeeded} of ${m.attempted}; ${m.refused} refused, ${m.networkFailed} network`];
    }));
    healthTable(card('latency'), each((w) => {
      const e = w.latency.eventToRow;
      const r = w.latency.receiptToRow;
      const tail = (s) => (s ? `p95 ${duration(s.p95)}, p99 ${duration(s.p99)}` : '');
      return [e ? duration(e.p50) : '—', e ? `p50 of ${e.count}; ${tail(e)}; receipt → row p50 ${r ? duration(r.p50) : '—'}` : 'no sample'];
    }));
    renderLatencyChart(health.latencyBuckets || []);
    setText($('health-note'), `Computed from the sync history at ${new Date(health.generatedAt).toLocaleTimeString()}.`);
  }
  function renderLatencyChart(buckets) {
    const NS = 'http://www.w3.org/2000/svg';
    const svgEl = (tag, attrs, text) => {
      const node = document.createElementNS(NS, tag);
      for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
      if (text !== undefined) node.textContent = text;
      return node;
    };
    const width = 40 + Math.max(buckets.length, 1) * 56;
    const height = 150;
    const top = 18;
    const base = 120;
    const max = Math.max(1, ...buckets.map((b) => b.count));
    const total = buckets.reduce((sum, b) => sum + b.count, 0);
    const summary = buckets.map((b, i) => `${i === buckets.length - 1 ? 'slower' : '≤ ' + duration(b.le)}: ${b.count}`).join(', ');
    const svg = svgEl('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'latency-caption latency-desc' });
    svg.append(svgEl('desc', { id: 'latency-desc' }, total ? `${total} events. ${summary}` : 'No events in the last 24 h.'));
    svg.append(svgEl('line', { x1: 30, y1: base + 0.5, x2: width - 4, y2: base + 0.5, class: 'axis' }));
    buckets.forEach((bucket, i) => {
      const h = Math.round(((base - top) * bucket.count) / max);
      const x = 36 + i * 56;
      const label = i === buckets.length - 1 && buckets.length > 1 ? `> ${duration(buckets[i - 1].le)}` : `≤ ${duration(bucket.le)}`;
      const group = svgEl('g', {});
      group.append(svgEl('title', {}, `${label}: ${bucket.count} events`));
      group.append(svgEl('rect', { x, y: base - h, width: 40, height: Math.max(h, bucket.count ? 1 : 0), class: 'bar' }));
      group.append(svgEl('text', { x: x + 20, y: base - h - 4, 'text-anchor': 'middle' }, String(bucket.count)));
      group.append(svgEl('text', { x: x + 20, y: base + 16, 'text-anchor': 'middle' }, label));
      svg.append(group);
    });
    $('latency-chart').replaceChildren(svg);
  }
  /* Each load* fetches, then returns the function that renders what it fetched (see keepPlace). */
  async function loadHealth() {
    try {
      const health = await api('/admin/health');
      return () => {
        renderHealth(health);
        $('latency-figure').hidden = false;
      };
    } catch (error) {
      if (!missing(error)) throw error;
      return () => {
        setText($('health-note'), 'This server does not compute the health numbers (GET /admin/health is missing).');
        $('latency-figure').hidden = true;
      };
    }
  }

  // ---------- overview: subscription, budget, counts ----------
  function renderSubscription(s) {
    const badge = $('subscription-badge');
    const facts = [];
    if (!s) {
      badge.textContent = 'unknown';
      badge.className = 'badge warn';
      fillFacts($('subscription-facts'), [['Status', 'could not be read (see the API log)']]);
      return;
    }
    let label;
    let cls;
    if (s.exists === null) [label, cls] = ['Strava not reachable', 'warn'];
    else if (!s.exists) [label, cls] = ['No subscription at Strava', 'bad'];
    else if (!s.matchesThisDeployment) [label, cls] = ['Delivers elsewhere', 'bad'];
    else if (!s.healthy) [label, cls] = ['Not recorded here', 'warn'];
    else [label, cls] = ['Delivering here', 'good'];
    badge.textContent = label;
    badge.className = `badge ${cls}`;
    if (s.subscriptionId !== null) facts.push(['Subscription id', String(s.subscriptionId)]);
    if (s.callbackUrl) facts.push(['Delivers to', s.callbackUrl]);
    facts.push(['This deployment', s.expectedCallbackUrl]);
    facts.push(['Recorded id', s.recordedSubscriptionId === null ? 'none' : String(s.recordedSubscriptionId)]);
    facts.push(['Last genuine webhook', when(s.lastWebhookAt, 'none on record')]);
    facts.push(['Strava asked', when(s.checkedAt)]);
    if (s.error) facts.push(['Last error', s.error]);
    fillFacts($('subscription-facts'), facts);
    $('subscription-create').hidden = Boolean(s.exists);
    $('subscription-replace').hidden = !(s.exists && s.matchesThisDeployment === false);
    $('subscription-delete').hidden = !s.exists;
    if (!s.exists) $('subscription-confirm').hidden = true;
  }
  function renderGovernor(g) {
    const body = $('governor').tBodies[0];
    body.replaceChildren();
    if (!g) {
      body.append(el('tr', {}, el('td', { colspan: 4, text: 'The rate budget could not be read.' })));
      return;
    }
    const used = (u, limit) => {
      const td = el('td');
      const meter = el('meter', { min: 0, max: limit, value: u, high: limit * 0.9, 'aria-label': `${u} of ${limit}` });
      td.append(meter, ` ${u} / ${limit}`);
      return td;
    };
    body.append(el('tr', {}, el('th', { scope: 'row', text: 'used (all)' }), used(g.window.used, g.window.limit), used(g.day.used, g.day.limit), el('td')));
    for (const priority of ['realtime', 'interactive', 'background']) {
      body.append(el('tr', {}, el('th', { scope: 'row', text: `${priority} may use` }), el('td', { text: String(g.allowed[priority].window) }),
        el('td', { text: String(g.allowed[priority].day) }), el('td', { text: String(g.refused[priority]) })));
    }
    setText($('governor-window'), `The 15-minute window resets at ${new Date(g.windowStart + 15 * 60000).toLocaleTimeString()}.`);
  }
  function renderCounts(dl, counts) {
    const entries = Object.entries(counts);
    fillFacts(dl, entries.length ? entries.map(([name, count]) => [name, String(count)]) : [['none', '0']]);
  }
  async function loadOverview() {
    const overview = await api('/admin/overview');
    return () => renderOverview(overview);
  }
  function renderOverview(overview) {
    renderSubscription(overview.subscription);
    renderGovernor(overview.governor);
    renderCounts($('athlete-counts'), overview.athletesByState);
    renderCounts($('webhook-counts'), overview.webhookEventsByOutcome);
    const link = $('temporal-link');
    link.replaceChildren();
    if (overview.temporalUiUrl) link.append(el('a', { href: overview.temporalUiUrl, target: '_blank', rel: 'noopener', text: 'All workflows in the Temporal UI' }));
  }
  async function subscriptionAction(method, path, done) {
    const message = $('subscription-message');
    message.className = '';
    message.textContent = 'Asking Strava…';
    try {
      const body = await api(path, { method });
      message.className = 'ok';
      message.textContent = done(body);
    } catch (error) {
      message.className = 'error';
      message.textContent = error.message;
    }
    $('subscription-confirm').hidden = true;
    await apply(loadOverview).catch(() => {});
  }

  // ---------- athletes ----------
  function pauseCause(athlete) {
    if (athlete.live && athlete.live.pausedBy) return athlete.live.pausedBy;
    return athlete.state === 'paused' ? 'paused' : null;
  }
  function createAthleteRow(athlete) {
    const row = el('tr');
    row.dataset.athleteId = String(athlete.athleteId);
    const nameCell = el('td', { className: 'name' }, el('span', { className: 'athlete-name' }), el('br'), el('span', { className: 'muted athlete-id' }));
    const actions = el('div', { className: 'actions' });
    const pause = el('button', { type: 'button', className: 'pause' });
    const sync = el('button', { type: 'button', className: 'sync', text: 'Sync' });
    pause.addEventListener('click', () => pauseOrResume(row, pause));
    sync.addEventListener('click', () => syncAthletes([Number(row.dataset.athleteId)], 'quick'));
    actions.append(pause, sync);
    row.append(nameCell, el('td', { className: 'num' }), el('td'), el('td'), el('td'), el('td', { className: 'error-text' }), el('td'), el('td', {}, actions));
    return row;
  }
  function updateAthleteRow(row, athlete) {
    const cells = row.cells;
    const label = athlete.name || `athlete ${athlete.athleteId}`;
    setText(row.querySelector('.athlete-name'), athlete.name || '(no name)');
    setText(row.querySelector('.athlete-id'), String(athlete.athleteId));
    setText(cells[1], String(athlete.activityCount));
    const cause = pauseCause(athlete);
    const live = athlete.live;
    // The workflow's state when just asked (it shows `syncing`, which the row never holds), else the row's.
    const state = live && athlete.liveFresh ? live.state : athlete.state;
    setText(cells[2], state + (state === 'paused' && cause && cause !== 'paused' ? ` (by ${cause})` : ''));
    setWhen(cells[3], athlete.lastSyncAt);
    setWhen(cells[4], live ? live.nextBackfillAt : null, live ? 'not planned' : '—');
    const lastError = live && live.lastError;
    setText(cells[5], lastError ? `${lastError.type}: ${lastError.message}` : '');
    cells[5].title = lastError ? new Date(lastError.at).toLocaleString() : '';
    if (!cells[6].firstChild || cells[6].firstChild.getAttribute && cells[6].firstChild.getAttribute('href') !== athlete.temporalUiUrl) {
      cells[6].replaceChildren(athlete.temporalUiUrl
        ? el('a', { href: athlete.temporalUiUrl, target: '_blank', rel: 'noopener', text: athlete.workflowId, 'aria-label': `Workflow of ${label} in the Temporal UI` })
        : el('span', { text: athlete.workflowId }));
    }
    const pause = row.querySelector('button.pause');
    const sync = row.querySelector('button.sync');
    const revoked = athlete.state === 'revoked';
    const pausedByOperator = cause === 'operator';
    pause.hidden = revoked;
    sync.hidden = revoked;
    if (!pause.disabled) {
      setText(pause, pausedByOperator ? 'Resume' : 'Pause');
      pause.dataset.action = pausedByOperator ? 'resume' : 'pause';
    }
    pause.setAttribute('aria-label', `${pausedByOperator ? 'Resume' : 'Pause'} auto sync of ${label}`);
    sync.setAttribute('aria-label', `Sync ${label} now`);
  }
  async function pauseOrResume(row, button) {
    const athleteId = row.dataset.athleteId;
    const action = button.dataset.action;
    button.disabled = true;
    status(`${action === 'pause' ? 'Pausing' : 'Resuming'} ${athleteLabel(Number(athleteId))}…`);
    try {
      await api(`/athletes/${encodeURIComponent(athleteId)}/${action}`, { method: 'POST' });
      status(`${action === 'pause' ? 'Paused' : 'Resumed'} ${athleteLabel(Number(athleteId))}.`, 'ok');
      setText(button, action === 'pause' ? 'Resume' : 'Pause');
      button.dataset.action = action === 'pause' ? 'resume' : 'pause';
    } catch (error) {
      status(missing(error) ? 'This server cannot pause athletes (the route is missing).' : error.message, 'error');
    } finally {
      button.disabled = false;
    }
    // The workflow applies the signal a moment later; look again shortly.
    setTimeout(() => apply(() => loadAthletes({ live: true })).catch(() => {}), 1000);
  }
  /**
   * The workflows' own view (next backfill, last error, pause) costs a status query per athlete: asked at most every
   * LIVE_EVERY_MS (and at once after an action on an athlete); in between the previous answers are shown.
   */
  const LIVE_EVERY_MS = 30000;
  let liveAt = 0;
  async function loadAthletes(options = {}) {
    const state = $('state-filter').value;
    const live = options.live || Date.now() - liveAt >= LIVE_EVERY_MS;
    const query = new URLSearchParams({ live: String(live) });
    if (state) query.set('state', state);
    const { athletes } = await api('/admin/athletes?' + query);
    if (live) liveAt = Date.now();
    for (const a of athletes) {
      a.liveFresh = live;
      if (!live) a.live = athletesById.has(a.athleteId) ? athletesById.get(a.athleteId).live : undefined;
    }
    return () => {
      if (!state) athletesById = new Map(athletes.map((a) => [a.athleteId, a]));
      else for (const a of athletes) athletesById.set(a.athleteId, a);
      syncRows($('athletes'), athletes, (a) => a.athleteId, createAthleteRow, updateAthleteRow);
      setText($('athletes-count'), `${athletes.length} athlete(s)`);
    };
  }

  // ---------- failures and runs ----------
  function renderFailures(groups, note) {
    setText($('failures-note'), note);
    const rows = [...groups.entries()].sort((a, b) => b[1].runs - a[1].runs);
    syncRows($('failures'), rows, ([type]) => type, () => el('tr', {}, el('th', { scope: 'row' }), el('td', { className: 'num' }), el('td')), (row, [type, group]) => {
      setText(row.cells[0], type);
      setText(row.cells[1], group.runs === null ? '—' : String(group.runs));
      setText(row.cells[2], [...group.athletes].map(athleteLabel).join(', '));
    });
    if (!rows.length) syncRows($('failures'), [['none', null]], () => 'none', () => el('tr', {}, el('td', { colspan: 3, text: 'No failures.' })), () => {});
  }
  async function loadFailures() {
    try {
      const since = new Date(Date.now() - 86400000).toISOString();
      const groups = new Map();
      let cursor = null;
      let pages = 0;
      do {
        const query = new URLSearchParams({ outcome: 'failed', since, limit: '200' });
        if (cursor) query.set('cursor', cursor);
        const page = await api('/admin/sync-runs?' + query);
        for (const run of page.runs) {
          const type = run.failureType || 'unknown';
          const group = groups.get(type) || { runs: 0, athletes: new Set() };
          group.runs += 1;
          group.athletes.add(run.athleteId);
          groups.set(type, group);
        }
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor && pages < 5);
      const note = cursor ? 'From the newest 1000 failed runs of the sync history.' : 'From the sync history.';
      return () => renderFailures(groups, note);
    } catch (error) {
      if (!missing(error)) throw error;
      return renderLastErrors;
    }
  }
  /** No sync history on this server: what each running workflow reports as its last error. */
  function renderLastErrors() {
    const groups = new Map();
    for (const athlete of athletesById.values()) {
      const lastError = athlete.live && athlete.live.lastError;
      if (!lastError || Date.now() - Date.parse(lastError.at) > 86400000) continue;
      const group = groups.get(lastError.type) || { runs: null, athletes: new Set() };
      group.athletes.add(athlete.athleteId);
      groups.set(lastError.type, group);
    }
    renderFailures(groups, "From the workflows' last errors (this server keeps no sync history).");
  }

  let runsCursor = null;
  let runsFilterKey = '';
  function runsQuery() {
    const query = new URLSearchParams({ limit: '50' });
    const athlete = $('runs-athlete').value.trim();
    if (athlete) query.set('athleteId', athlete);
    if ($('runs-trigger').value) query.set('trigger', $('runs-trigger').value);
    if ($('runs-outcome').value) query.set('outcome', $('runs-outcome').value);
    return query;
  }
  function createRunRow() {
    return el('tr', {}, el('td'), el('td'), el('td'), el('td'), el('td'), el('td', { className: 'num' }), el('td', { className: 'num' }), el('td', { className: 'num' }), el('td', { className: 'num' }), el('td', { className: 'num' }));
  }
  function updateRunRow(row, run) {
    const c = row.cells;
    setWhen(c[0], run.startedAt);
    setText(c[1], athleteLabel(run.athleteId));
    setText(c[2], run.trigger);
    setText(c[3], run.outcome);
    c[3].className = run.outcome === 'failed' ? 'error' : run.outcome === 'ok' ? '' : 'muted';
    setText(c[4], run.failureType || '');
    setText(c[5], String(run.requests));
    setText(c[6], String(run.added));
    setText(c[7], String(run.updated));
    setText(c[8], String(run.deleted));
    setText(c[9], duration(run.durationMs));
  }
  /** First page: new runs are added at the top and known ones updated; older pages the operator loaded stay. */
  async function loadRuns(options = {}) {
    const query = runsQuery();
    const filterKey = query.toString();
    let page;
    try {
      page = await api('/admin/sync-runs?' + query);
    } catch (error) {
      if (!missing(error)) throw error;
      return () => {
        setText($('runs-note'), 'This server keeps no sync history (GET /admin/sync-runs is missing).');
        $('runs-table').hidden = true;
        $('runs-more').hidden = true;
      };
    }
    return () => {
      const fresh = options.reset || filterKey !== runsFilterKey;
      const body = $('runs');
      if (fresh) {
        body.replaceChildren();
        runsCursor = page.nextCursor;
        runsFilterKey = filterKey;
      }
      const known = [...body.rows].map((row) => row.dataset.key);
      const ids = new Set(page.runs.map((run) => String(run.id)));
      // The newest page first, then what was already shown below it.
      const ordered = [...page.runs, ...known.filter((k) => !ids.has(k)).map((k) => ({ id: k, keep: true }))];
      syncRows(body, ordered, (run) => run.id, createRunRow, (row, run) => !run.keep && updateRunRow(row, run));
      if (fresh) $('runs-more').hidden = !runsCursor;
      setText($('runs-note'), page.runs.length || body.rows.length ? '' : 'No runs match.');
      $('runs-table').hidden = false;
    };
  }
  async function loadOlderRuns() {
    if (!runsCursor) return;
    const query = runsQuery();
    query.set('cursor', runsCursor);
    const page = await api('/admin/sync-runs?' + query);
    const body = $('runs');
    for (const run of page.runs) {
      if (body.querySelector(`tr[data-key="${CSS.escape(String(run.id))}"]`)) continue;
      const row = createRunRow();
      row.dataset.key = String(run.id);
      updateRunRow(row, run);
      body.append(row);
    }
    runsCursor = page.nextCursor;
    $('runs-more').hidden = !runsCursor;
  }

  // ---------- settings ----------
  let settingsDirty = false;
  const minutes = (ms) => String(Math.round(ms / 60000));
  async function loadSettings() {
    const form = $('settings-form');
    let view;
    try {
      view = await api('/admin/settings');
    } catch (error) {
      if (!missing(error)) throw error;
      return () => {
        form.hidden = true;
        setText($('settings-h'), 'Settings (not available on this server)');
      };
    }
    return () => {
      form.hidden = false;
      // Never overwrite what the operator is typing.
      if (!settingsDirty && !form.contains(document.activeElement)) {
        $('setting-backfill').value = minutes(view.settings.backfillIntervalMs);
        $('setting-focus').value = minutes(view.settings.focusStaleAfterMs);
        $('setting-paused').checked = Boolean(view.settings.paused);
      }
      setText($('default-backfill'), `default ${duration(view.defaults.backfillIntervalMs)}`);
      setText($('default-focus'), `default ${duration(view.defaults.focusStaleAfterMs)}`);
      setText($('settings-updated'), view.updatedAt ? `changed ${ago(view.updatedAt)}` : 'never changed: the environment values apply');
    };
  }
  async function saveSettings(event) {
    event.preventDefault();
    const message = $('settings-message');
    const body = {
      backfillIntervalMs: Number($('setting-backfill').value) * 60000,
      focusStaleAfterMs: Number($('setting-focus').value) * 60000,
      paused: $('setting-paused').checked,
    };
    message.className = '';
    message.textContent = 'Saving…';
    try {
      await api('/admin/settings', { method: 'PUT', body: JSON.stringify(body) });
      settingsDirty = false;
      message.className = 'ok';
      message.textContent = 'Saved: running workflows pick the change up within a minute.';
      await apply(loadSettings);
    } catch (error) {
      message.className = 'error';
      message.textContent = error.message;
    }
  }

  // ---------- sync all ----------
  let batchTimer = null;
  function renderBatch(view) {
    $('sync-result').hidden = false;
    setText($('sync-result-title'), view.done ? `Batch finished (${view.mode})` : `Batch running (${view.mode})…`);
    const byKind = (record) => Object.entries(record).map(([k, n]) => `${k} ${n}`).join(', ');
    fillFacts($('sync-result-facts'), [
      ['Athletes', String(view.athletes)],
      ['Started', String(view.started) + (view.running ? ` (${view.running} running, ${view.queued} queued)` : view.queued ? ` (${view.queued} queued)` : '')],
      ['Skipped', String(view.skipped.total) + (view.skipped.total ? ` (${byKind(view.skipped.byReason)})` : '')],
      ['Succeeded', String(view.succeeded)],
      ['Failed', String(view.failed.total) + (view.failed.total ? ` (${byKind(view.failed.byType)})` : '')],
      ['Activities', `${view.activities.added} added, ${view.activities.updated} updated, ${view.activities.deleted} deleted`],
      ['Tokens refreshed', String(view.tokensRefreshed)],
      ['Strava requests', String(view.requests)],
      ['Done', view.done ? 'yes' : 'no'],
    ]);
    const table = $('sync-failures');
    table.hidden = view.failures.length === 0;
    table.tBodies[0].replaceChildren(...view.failures.map((f) => el('tr', {}, el('td', { text: athleteLabel(f.athleteId) }), el('td', { text: f.type }), el('td', { text: f.message || '' }))));
  }
  async function followBatch(statusUrl) {
    clearTimeout(batchTimer);
    try {
      const view = await api(statusUrl);
      renderBatch(view);
      if (!view.done) batchTimer = setTimeout(() => followBatch(statusUrl), 1000);
      else status(`Batch sync finished: ${view.succeeded} succeeded, ${view.failed.total} failed, ${view.skipped.total} skipped.`, view.failed.total ? 'error' : 'ok');
    } catch (error) {
      status(error.message, 'error');
    }
  }
  async function syncAthletes(ids, mode, extra = {}) {
    status(ids ? `Requesting a sync of ${athleteLabel(ids[0])}…` : 'Starting the batch sync…');
    try {
      const view = await api('/admin/sync', { method: 'POST', body: JSON.stringify({ athleteIds: ids || 'all', mode, ...extra }) });
      renderBatch(view);
      status(ids ? `Sync requested for ${athleteLabel(ids[0])}.` : 'Batch sync started.', 'ok');
      followBatch(view.statusUrl);
    } catch (error) {
      status(error.message, 'error');
    }
  }
  function submitSyncAll(event) {
    event.preventDefault();
    const extra = {};
    const skip = $('sync-skip').value.trim();
    if (skip) extra.skipIfSyncedWithin = /^\d+$/.test(skip) ? Number(skip) : skip;
    const limit = $('sync-limit').value.trim();
    if (limit) extra.limit = Number(limit);
    const mode = document.querySelector('input[name=mode]:checked').value;
    syncAthletes(null, mode, extra);
  }

  // ---------- loading and live refresh ----------
  async function refresh() {
    if (!key) {
      status('Paste the admin API key to load the page.');
      return;
    }
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        // The overview first: a wrong key fails here, before anything else is asked.
        const overview = await loadOverview();
        const renders = await Promise.all([loadAthletes(), loadHealth(), loadSettings(), loadRuns(), loadFailures()]);
        keepPlace(() => {
          overview();
          for (const render of renders) render();
          $('content').hidden = false;
          $('live-bar').hidden = false;
        });
        status(`${athletesById.size} athlete(s) loaded at ${new Date().toLocaleTimeString()}`, 'ok');
      } catch (error) {
        status(error.message, 'error');
        if (error instanceof HttpFailure && error.status === 401) $('content').hidden = true;
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if ($('auto-refresh').checked && document.visibilityState === 'visible' && key) await refresh();
      schedule();
    }, REFRESH_MS);
  }

  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    key = $('key').value.trim();
    sessionStorage.setItem(KEY_STORAGE, key);
    $('key').value = '';
    refresh();
  });
  $('forget').addEventListener('click', () => {
    key = '';
    sessionStorage.removeItem(KEY_STORAGE);
    $('content').hidden = true;
    $('live-bar').hidden = true;
    status('Key forgotten.');
  });
  $('refresh').addEventListener('click', () => refresh());
  $('state-filter').addEventListener('change', () => apply(() => loadAthletes({ live: true })).catch((error) => status(error.message, 'error')));
  $('runs-filter').addEventListener('submit', (event) => {
    event.preventDefault();
    apply(() => loadRuns({ reset: true })).catch((error) => status(error.message, 'error'));
  });
  $('runs-more').addEventListener('click', () => loadOlderRuns().catch((error) => status(error.message, 'error')));
  $('settings-form').addEventListener('input', () => (settingsDirty = true));
  $('settings-form').addEventListener('submit', saveSettings);
  $('sync-form').addEventListener('submit', submitSyncAll);
  $('subscription-create').addEventListener('click', () =>
    subscriptionAction('POST', '/admin/subscription', (body) => (body.created ? `Created subscription ${body.subscription.id}.` : `Subscription ${body.subscription.id} already delivers here; recorded.`)));
  $('subscription-replace').addEventListener('click', () =>
    subscriptionAction('POST', '/admin/subscription?replace=true', (body) => `Replaced subscription ${body.replacedSubscriptionId} by ${body.subscription.id}.`));
  $('subscription-delete').addEventListener('click', () => {
    $('subscription-confirm').hidden = false;
    $('subscription-delete-confirm').focus();
  });
  $('subscription-delete-cancel').addEventListener('click', () => {
    $('subscription-confirm').hidden = true;
    $('subscription-delete').focus();
  });
  $('subscription-delete-confirm').addEventListener('click', () =>
    subscriptionAction('DELETE', '/admin/subscription', (body) => `Deleted subscription ${body.deletedSubscriptionId}: Strava sends no more events.`));
  refresh();
  schedule();
})();
