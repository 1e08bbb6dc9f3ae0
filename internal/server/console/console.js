// Relay Auth operator console. Plain DOM, no library, no build step.
// Every string that comes from the API is rendered with textContent (or as
// a text node), never as HTML, so a <script> in a user agent or a key name
// is shown, not run. The credential never reaches this script: the server
// keeps it behind an HttpOnly cookie; this script holds only the CSRF
// token, in memory.
'use strict';

(function () {
  const state = { who: null, csrf: null, timer: null };
  const $ = (id) => document.getElementById(id);
  const isAdmin = () => !!state.who && (state.who.roles || []).includes('admin');
  const RELAY_SCOPES = ['tokens:issue', 'tokens:introspect', 'api_keys:read', 'api_keys:write', 'sessions:revoke'];

  // el builds an element; children are nodes or text (never HTML).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) {
      if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  class APIError extends Error {
    constructor(status, message, detail) { super(message); this.status = status; this.detail = detail || ''; }
  }

  // explain turns a refusal into a sentence an operator can act on.
  function explain(status, problem, headers) {
    const detail = (problem && problem.detail) || '';
    switch (status) {
      case 400: return 'The server refused the request: ' + detail;
      case 401: return 'You are signed out: ' + (detail || 'the console session ended') + '. Sign in again.';
      case 403: return 'Not allowed: ' + detail;
      case 404: return 'Not found, or not in your tenant: ' + detail;
      case 409: return 'Conflict: ' + detail;
      case 429: {
        const ra = headers && headers.get('Retry-After');
        return 'Too many attempts' + (ra ? '; retry in ' + ra + ' s' : '') + '. ' + detail;
      }
      case 503: return 'The server cannot vouch for this right now (a store is unavailable). Retry in a moment.';
      default: return 'Unexpected answer ' + status + (detail ? ': ' + detail : '');
    }
  }

  async function api(method, path, body) {
    const init = { method, headers: {}, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
    if (state.csrf) init.headers['X-CSRF-Token'] = state.csrf;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, 'Cannot reach the server (' + e.message + '). Nothing was changed by this page.');
    }
    if (res.status === 204) return null;
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = new APIError(res.status, explain(res.status, data, res.headers), data && data.detail);
      if (res.status === 401 && state.who) signedOut(err.message);
      throw err;
    }
    return data;
  }

  // The console's API: the server's own routes behind the console session.
  const call = (method, path, body) => api(method, '/console/api' + path, body);

  function showError(msg) {
    const e = $('error');
    e.textContent = msg;
    e.hidden = !msg;
  }
  function say(msg) { $('status').textContent = msg; }
  function fail(e) { showError(e.message || String(e)); }

  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  }
  function ago(iso) {
    if (!iso) return 'never';
    const s = Math.round((Date.now() - new Date(iso)) / 1000);
    if (s < 0) return 'in ' + human(-s);
    return human(s) + ' ago';
  }
  function human(s) {
    if (s < 90) return s + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' d';
  }
  const timeCell = (iso) => el('td', { title: iso || '' }, el('time', iso ? { datetime: iso } : {}, fmtTime(iso)));

  // confirmDialog asks before anything destructive; it names what happens.
  function confirmDialog(title, text, okLabel, extra) {
    const d = $('confirm');
    $('confirm-h').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel;
    const box = $('confirm-extra');
    box.replaceChildren();
    if (extra) box.append(extra);
    return new Promise((resolve) => {
      d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
      d.returnValue = 'cancel';
      d.showModal();
      $('confirm-cancel').focus();
    });
  }

  // ---- sign-in and out ----

  function showSignedIn() {
    const w = state.who;
    $('who').textContent = w.subject + ' (' + (w.tenant || '—') + ') · ' + (w.method === 'api_key' ? 'API key' : 'password');
    $('whoami').hidden = false;
    $('nav').hidden = false;
    for (const e of document.querySelectorAll('[data-admin]')) e.hidden = !isAdmin();
    $('f-tenant').value = isAdmin() ? '' : w.tenant;
    $('c-tenant').value = w.tenant;
    if (!isAdmin()) { $('f-tenant').readOnly = true; $('c-tenant').readOnly = true; $('k-tenant').readOnly = true; $('k-tenant').value = w.tenant; }
  }

  function signedOut(msg) {
    state.who = null;
    state.csrf = null;
    clearSecret();
    $('whoami').hidden = true;
    $('nav').hidden = true;
    for (const id of ['f-tenant', 'c-tenant', 'k-tenant']) $(id).readOnly = false;
    if (msg) showError(msg);
    go('signin');
  }

  function adopt(answer) {
    state.csrf = answer.csrf_token;
    state.who = answer;
    const env = $('env');
    env.textContent = answer.environment;
    env.className = 'env ' + answer.environment;
    env.hidden = false;
    showSignedIn();
  }

  async function signIn(ev) {
    ev.preventDefault();
    showError('');
    const byKey = document.querySelector('input[name=method]:checked').value === 'apikey';
    const body = byKey ? { api_key: $('apikey').value } : { username: $('username').value, password: $('password').value };
    $('signin-submit').disabled = true;
    try {
      state.csrf = null;
      adopt(await api('POST', '/console/api/session', body));
      $('password').value = '';
      $('apikey').value = '';
      go('overview');
      say('Signed in as ' + state.who.subject + '.');
    } catch (e) {
      if (e.status === 401) showError('Sign-in refused: ' + (e.detail || 'wrong credentials') + '.');
      else fail(e);
    } finally {
      $('signin-submit').disabled = false;
    }
  }

  async function signOut() {
    try {
      await api('DELETE', '/console/api/session');
      signedOut('');
      say('Signed out; the session was ended on the server.');
    } catch (e) {
      fail(e);
    }
  }

  // ---- overview ----

  async function loadOverview() {
    $('overview-updated').textContent = 'updated ' + fmtTime(new Date().toISOString());
    const ready = $('ready');
    try {
      await call('GET', '/readyz');
      ready.textContent = 'Ready';
      ready.className = 'big ok';
    } catch (e) {
      ready.textContent = e.status === 503 ? 'Not ready: session store unreachable' : e.message;
      ready.className = 'big bad';
    }
    const store = $('store'), signing = $('signing'), live = $('live'), chart = $('chart');
    if (!isAdmin()) {
      const note = 'Needs the admin role.';
      store.replaceChildren(el('dd', {}, note));
      signing.replaceChildren(el('dd', {}, note));
      chart.replaceChildren(el('p', { class: 'hint' }, 'The activity chart needs the admin role.'));
      try {
        const list = await call('GET', '/auth/sessions');
        live.textContent = list.sessions.length + ' in ' + state.who.tenant;
      } catch (e) { live.textContent = '?'; fail(e); }
      return;
    }
    try {
      const h = await call('GET', '/admin/health');
      const st = (h.stores || [])[0] || {};
      store.replaceChildren(
        el('dt', {}, 'Backend'), el('dd', {}, st.backend || '?'),
        el('dt', {}, 'Answers'), el('dd', { class: st.ok ? 'ok' : 'bad' }, st.ok ? 'yes' : 'no'),
        el('dt', {}, 'Latency'), el('dd', {}, (st.latency_ms ?? '?') + ' ms'),
        el('dt', {}, 'Environment'), el('dd', {}, h.environment),
        el('dt', {}, 'Version'), el('dd', {}, h.version + ' (' + h.go + '), up ' + human(h.uptime_s)));
      const kids = (h.signing.verification_kids || []).filter((k) => k !== h.signing.kid);
      signing.replaceChildren(
        el('dt', {}, 'Algorithm'), el('dd', {}, h.signing.alg),
        el('dt', {}, 'Active kid'), el('dd', { class: 'mono' }, h.signing.kid),
        el('dt', {}, 'Previous kids'), el('dd', { class: 'mono' }, kids.length ? kids.join(', ') : 'none'));
      if (typeof h.live_sessions === 'number') {
        live.textContent = String(h.live_sessions);
      } else {
        const list = await call('GET', '/auth/sessions');
        live.textContent = String(list.sessions.length);
      }
      const act = await call('GET', '/admin/activity');
      drawChart(chart, act.minutes);
    } catch (e) { fail(e); }
  }

  // drawChart draws the last hour as three lines in an SVG built with DOM
  // calls (no inline script, no library).
  function drawChart(box, minutes) {
    const NS = 'http://www.w3.org/2000/svg';
    const W = 600, H = 200, L = 34, B = 22, T = 8, R = 8;
    const series = [['logins', 'Logins', '#1a7f37'], ['failures', 'Failed logins', '#b3261e'], ['revocations', 'Sessions revoked', '#bf8700']];
    const max = Math.max(1, ...minutes.flatMap((m) => series.map(([k]) => m[k])));
    const x = (i) => L + (i * (W - L - R)) / Math.max(1, minutes.length - 1);
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const svg = document.createElementNS(NS, 'svg');
    const totals = series.map(([k, label]) => label + ' ' + minutes.reduce((a, m) => a + m[k], 0));
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'Last 60 minutes: ' + totals.join(', '));
    const add = (tag, attrs, text) => {
      const e = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      svg.append(e);
      return e;
    };
    add('title', {}, 'Last 60 minutes: ' + totals.join(', '));
    for (const v of [0, max / 2, max]) {
      add('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#d0d7de', 'stroke-width': 1 });
      add('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#57606a' }, String(Math.round(v)));
    }
    add('text', { x: L, y: H - 4, 'font-size': 11, fill: '#57606a' }, '60 min ago');
    add('text', { x: W - R, y: H - 4, 'font-size': 11, fill: '#57606a', 'text-anchor': 'end' }, 'now');
    for (const [k, , color] of series) {
      const pts = minutes.map((m, i) => x(i).toFixed(1) + ',' + y(m[k]).toFixed(1)).join(' ');
      add('polyline', { points: pts, fill: 'none', stroke: color, 'stroke-width': 2, 'stroke-linejoin': 'round', class: 'series-' + k });
    }
    const legend = el('div', { class: 'legend' }, ...series.map(([k], i) => el('span', {}, el('span', { class: 'sw ' + k }), totals[i])));
    box.replaceChildren(svg, legend);
  }

  // ---- sessions ----

  function sessionQuery() {
    const q = new URLSearchParams();
    const t = $('f-tenant').value.trim(), s = $('f-subject').value.trim();
    if (t) q.set('tenant', t);
    if (s) q.set('subject', s);
    return q;
  }

  async function loadSessions() {
    const q = sessionQuery();
    const tbody = $('sessions-table').tBodies[0];
    try {
      const list = (await call('GET', '/auth/sessions' + (q.size ? '?' + q : ''))).sessions;
      $('sessions-count').textContent = list.length + (list.length === 1 ? ' live session' : ' live sessions') + (q.size ? ' matching the filter' : '');
      tbody.replaceChildren(...list.map(sessionRow));
      if (!list.length) tbody.append(el('tr', {}, el('td', { colspan: 8, class: 'hint' }, 'No live sessions match.')));
    } catch (e) { fail(e); }
  }

  function sessionRow(s) {
    const mine = state.who && s.id === state.who.session_id;
    const btn = el('button', {
      type: 'button', class: 'danger',
      'aria-label': 'Revoke session of ' + s.subject + ' in ' + s.tenant + ' started ' + fmtTime(s.created_at),
      onclick: () => revokeOne(s, mine),
    }, 'Revoke');
    return el('tr', { 'data-session': s.id },
      el('td', {}, s.subject, mine ? el('span', { class: 'tag' }, 'this console') : null),
      el('td', {}, s.tenant), timeCell(s.created_at), timeCell(s.last_seen_at), timeCell(s.expires_at),
      el('td', { class: 'mono' }, s.ip), el('td', { class: 'ua' }, s.user_agent), el('td', {}, btn));
  }

  async function revokeOne(s, mine) {
    const ok = await confirmDialog('Revoke one session',
      'End the session of "' + s.subject + '" in tenant "' + s.tenant + '", started ' + fmtTime(s.created_at) + '? Its tokens stop working on the next request.' +
      (mine ? ' This is the console\'s own session: you will be signed out.' : ''), 'Revoke 1 session');
    if (!ok) return;
    try {
      await call('DELETE', '/auth/sessions/' + encodeURIComponent(s.id));
      say('Revoked the session of ' + s.subject + '.');
      if (state.who) loadSessions();
    } catch (e) { fail(e); }
  }

  // revokeMany counts what a mass revocation ends, asks, then does it.
  async function revokeMany(kind) {
    showError('');
    const tenant = $('f-tenant').value.trim(), subject = $('f-subject').value.trim();
    let body, scope, q = new URLSearchParams();
    if (kind === 'subject') {
      if (!tenant || !subject) return showError('Fill in both tenant and subject to revoke a subject.');
      body = { tenant, subject }; scope = 'every session of subject "' + subject + '" in tenant "' + tenant + '"';
      q.set('tenant', tenant); q.set('subject', subject);
    } else if (kind === 'tenant') {
      if (!tenant) return showError('Fill in the tenant to revoke a tenant.');
      body = { tenant }; scope = 'every session of tenant "' + tenant + '"';
      q.set('tenant', tenant);
    } else {
      body = { all: true }; scope = 'EVERY session of EVERY tenant, including this console\'s';
    }
    let list;
    try { list = (await call('GET', '/auth/sessions' + (q.size ? '?' + q : ''))).sessions; } catch (e) { return fail(e); }
    const n = list.length;
    const mine = state.who && list.some((s) => s.id === state.who.session_id);
    const ok = await confirmDialog(kind === 'all' ? 'Revoke everything' : 'Revoke a ' + kind,
      'This ends ' + scope + ': ' + n + (n === 1 ? ' session' : ' sessions') + ' live now (sessions created meanwhile are ended too). It cannot be undone.' +
      (mine ? ' The console\'s own session is among them: you will be signed out.' : ''),
      'End ' + n + (n === 1 ? ' session' : ' sessions'));
    if (!ok) return;
    try {
      const res = await call('POST', '/auth/sessions/revoke', body);
      say('Revoked ' + res.revoked + (res.revoked === 1 ? ' session' : ' sessions') + '.');
      if (state.who) loadSessions();
    } catch (e) { fail(e); }
  }

  // ---- API keys ----

  function keyState(k) {
    const now = Date.now();
    if (k.revoked_at) return ['revoked', 'Revoked ' + fmtTime(k.revoked_at)];
    if (k.expires_at && new Date(k.expires_at) <= now) return ['revoked', 'Expired'];
    if (k.previous_key_valid_until && new Date(k.previous_key_valid_until) > now) {
      return ['rotating', 'Rotated; old key valid until ' + fmtTime(k.previous_key_valid_until)];
    }
    if (k.rotated_at) return ['active', 'Active (rotated ' + fmtTime(k.rotated_at) + ')'];
    return ['active', 'Active'];
  }

  async function loadKeys() {
    const tbody = $('keys-table').tBodies[0];
    const t = $('k-tenant').value.trim();
    try {
      const keys = (await call('GET', '/auth/api-keys' + (t ? '?tenant=' + encodeURIComponent(t) : ''))).api_keys;
      tbody.replaceChildren(...keys.map(keyRow));
      if (!keys.length) tbody.append(el('tr', {}, el('td', { colspan: 9, class: 'hint' }, 'No API keys.')));
    } catch (e) { fail(e); }
  }

  function keyRow(k) {
    const [cls, text] = keyState(k);
    const dead = cls === 'revoked';
    return el('tr', { 'data-key': k.id },
      el('td', {}, k.name), el('td', {}, k.tenant), el('td', { class: 'mono' }, k.masked_key),
      el('td', {}, ...(k.scopes || []).map((s) => el('span', { class: 'tag' }, s)), ...(k.roles || []).map((r) => el('span', { class: 'tag' }, 'role ' + r))),
      timeCell(k.created_at),
      el('td', { title: k.last_used_at || '' }, k.last_used_at ? ago(k.last_used_at) : 'never'),
      el('td', { title: k.expires_at || '' }, k.expires_at ? fmtTime(k.expires_at) : 'never'),
      el('td', { class: 'state-' + cls }, text),
      el('td', {},
        el('button', { type: 'button', disabled: dead, 'aria-label': 'Rotate key ' + k.name, onclick: () => rotateKey(k) }, 'Rotate'),
        el('button', { type: 'button', class: 'danger', disabled: dead, 'aria-label': 'Revoke key ' + k.name, onclick: () => revokeKey(k) }, 'Revoke')));
  }

  function showSecret(name, key) {
    $('secret-name').textContent = name;
    $('secret-value').value = key;
    $('secret').hidden = false;
    $('secret-value').focus();
    $('secret-value').select();
  }
  function clearSecret() {
    $('secret-value').value = '';
    $('secret').hidden = true;
  }
  async function copySecret() {
    const input = $('secret-value');
    try {
      await navigator.clipboard.writeText(input.value);
    } catch (e) {
      input.select();
      document.execCommand('copy');
    }
    say('Key copied to the clipboard.');
  }

  async function createKey(ev) {
    ev.preventDefault();
    showError('');
    const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
    const scopes = [...document.querySelectorAll('#c-scopes input:checked')].map((c) => c.value).concat(list($('c-appscopes').value));
    const days = Number($('c-expires').value);
    const body = { name: $('c-name').value.trim(), tenant: $('c-tenant').value.trim(), scopes, roles: list($('c-roles').value) };
    if (days > 0) body.expires_in = Math.round(days * 86400);
    try {
      const k = await call('POST', '/auth/api-keys', body);
      showSecret(k.name, k.key);
      $('key-create').reset();
      $('c-tenant').value = state.who.tenant;
      say('Created key ' + k.name + ' (' + k.masked_key + ').');
      loadKeys();
    } catch (e) { fail(e); }
  }

  async function rotateKey(k) {
    const field = el('div', {},
      el('label', { for: 'grace' }, 'Old key keeps working for (seconds; 0: stops at once)'),
      el('input', { id: 'grace', type: 'number', min: 0, max: 2592000, value: 3600 }));
    const ok = await confirmDialog('Rotate key', 'Issue a new secret for "' + k.name + '" (' + k.masked_key + '). The new key is shown once.', 'Rotate', field);
    if (!ok) return;
    const grace = Number(document.getElementById('grace').value) || 0;
    try {
      const res = await call('POST', '/auth/api-keys/' + encodeURIComponent(k.id) + '/rotate', { grace_seconds: grace });
      showSecret(res.name, res.key);
      say('Rotated key ' + res.name + '.');
      loadKeys();
    } catch (e) { fail(e); }
  }

  async function revokeKey(k) {
    const ok = await confirmDialog('Revoke key', 'Revoke "' + k.name + '" (' + k.masked_key + ', tenant ' + k.tenant + ')? It fails from the next request on; the record stays for audit.', 'Revoke key');
    if (!ok) return;
    try {
      await call('DELETE', '/auth/api-keys/' + encodeURIComponent(k.id));
      say('Revoked key ' + k.name + '.');
      if (state.who) loadKeys();
    } catch (e) { fail(e); }
  }

  // ---- migrations ----

  async function loadMigrations() {
    const ul = $('migrations');
    try {
      const names = (await call('GET', '/admin/migrations')).migrations;
      ul.replaceChildren(...names.map((n) => el('li', {}, el('code', {}, n), ' ',
        el('button', { type: 'button', 'aria-label': 'Run migration ' + n, onclick: () => runMigration(n) }, 'Run'))));
      if (!names.length) ul.append(el('li', { class: 'hint' }, 'No migrations apply to this configuration.'));
    } catch (e) { fail(e); }
  }

  async function runMigration(name) {
    const ok = await confirmDialog('Run migration', 'Run "' + name + '" now? It is idempotent; an interrupted run resumes.', 'Run ' + name);
    if (!ok) return;
    try {
      const res = await call('POST', '/admin/migrations/' + encodeURIComponent(name), { confirm: name });
      $('migration-result').textContent = name + ': ' + JSON.stringify(res, null, 2);
      say('Migration ' + name + ' finished.');
    } catch (e) { fail(e); }
  }

  // ---- routing ----

  const pages = { overview: loadOverview, sessions: loadSessions, keys: loadKeys, migrations: loadMigrations };

  function route() {
    clearInterval(state.timer);
    say('');
    let page = (location.hash.match(/^#\/(\w+)/) || [])[1] || 'overview';
    if (!state.who) page = 'signin';
    else if (!(page in pages) || (page === 'migrations' && !isAdmin())) page = 'overview';
    if (page !== 'keys') clearSecret();
    for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== 'page-' + page;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.page === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    document.title = (page === 'signin' ? 'Sign in' : page[0].toUpperCase() + page.slice(1)) + ' · Relay Auth console';
    if (page === 'signin') { $(document.querySelector('input[name=method]:checked').value === 'apikey' ? 'apikey' : 'password').focus(); return; }
    pages[page]();
    if (page === 'overview') state.timer = setInterval(loadOverview, 15000);
  }

  // go shows a page without a hashchange event, which would clear the
  // message that sent us there.
  function go(page) {
    history.replaceState(null, '', '#/' + page);
    route();
  }

  function init() {
    $('signin-form').addEventListener('submit', signIn);
    for (const r of document.querySelectorAll('input[name=method]')) {
      r.addEventListener('change', () => {
        const byKey = r.value === 'apikey' && r.checked;
        $('signin-password').hidden = byKey;
        $('signin-apikey').hidden = !byKey;
        $('username').required = !byKey; $('password').required = !byKey; $('apikey').required = byKey;
      });
    }
    $('signout').addEventListener('click', signOut);
    $('overview-refresh').addEventListener('click', loadOverview);
    $('sessions-filter').addEventListener('submit', (e) => { e.preventDefault(); showError(''); loadSessions(); });
    $('keys-filter').addEventListener('submit', (e) => { e.preventDefault(); showError(''); loadKeys(); });
    $('revoke-subject').addEventListener('click', () => revokeMany('subject'));
    $('revoke-tenant').addEventListener('click', () => revokeMany('tenant'));
    $('revoke-all').addEventListener('click', () => revokeMany('all'));
    $('key-create').addEventListener('submit', createKey);
    $('secret-copy').addEventListener('click', copySecret);
    $('secret-done').addEventListener('click', () => { clearSecret(); say('The key is no longer shown anywhere.'); });
    const box = $('c-scopes');
    for (const s of RELAY_SCOPES) {
      box.append(el('label', {}, el('input', { type: 'checkbox', value: s, name: 'scope' }), s));
    }
    window.addEventListener('hashchange', () => { showError(''); route(); });
    api('GET', '/console/api/session').then(adopt, () => {}).finally(route);
  }

  document.addEventListener('DOMContentLoaded', init);
}());
