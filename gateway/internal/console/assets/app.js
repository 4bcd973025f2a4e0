// hookmesh console: plain JavaScript over the REST API (/v1/) and the live stream
// (/console/stream). Every value from the server is put into the page as text, never
// as HTML.
'use strict';

const MAX_LIVE = 500;
const state = {
  session: null,      // {auth_required, authenticated}
  live: [],           // newest first: summaries from the stream
  liveIds: new Set(), // seq numbers already shown
  source: null,       // EventSource
  timer: null,        // refresh timer of the current view
  view: '',
  filter: '',
};

// ---- DOM helpers ----------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const main = () => document.getElementById('main');

function render(...nodes) {
  main().replaceChildren(...nodes.flat().filter(n => n));
}

function notice(msg, isError) {
  const n = document.getElementById('notice');
  n.textContent = msg;
  n.className = 'notice' + (isError ? ' error' : '');
  clearTimeout(notice.t);
  notice.t = setTimeout(() => n.classList.add('hidden'), isError ? 8000 : 4000);
}

function table(headers, rows, emptyText) {
  if (!rows.length) return el('div', { class: 'panel empty', text: emptyText });
  return el('div', { class: 'panel scroll' },
    el('table', {},
      el('thead', {}, el('tr', {}, headers.map(h => el('th', { text: h })))),
      el('tbody', {}, rows)));
}

// ---- formatting -----------------------------------------------------------

function fmtTime(s) {
  if (!s) return '—';
  const d = new Date(s);
  if (isNaN(d)) return s;
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

// Durations come as protojson strings: "12.5s".
function fmtDuration(s) {
  if (!s) return '—';
  const secs = parseFloat(s);
  if (isNaN(secs)) return s;
  if (secs < 1) return Math.round(secs * 1000) + ' ms';
  if (secs < 60) return secs.toFixed(secs < 10 ? 1 : 0) + ' s';
  const m = Math.floor(secs / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (d > 0) return d + 'd ' + (h % 24) + 'h';
  if (h > 0) return h + 'h ' + (m % 60) + 'm';
  return m + 'm ' + Math.floor(secs % 60) + 's';
}

const short = (name, prefix) => (name || '').replace(prefix, '').toLowerCase();

function stateBadge(s) {
  const v = short(s, 'DELIVERY_STATE_');
  const cls = { delivered: 'ok', retrying: 'warn', dead: 'bad', pending: '', filtered: '' }[v] || '';
  return el('span', { class: 'badge ' + cls, text: v || 'unknown' });
}

function healthBadge(s) {
  const v = short(s, 'SUBSCRIPTION_HEALTH_');
  const label = v === 'unspecified' || !v ? 'not checked' : v;
  const cls = { healthy: 'ok', degraded: 'warn', unhealthy: 'bad' }[v] || '';
  return el('span', { class: 'badge ' + cls, text: label });
}

function codeBadge(code) {
  const ok = code === 'OK' || code === 'ALREADY_EXISTS';
  const retry = ['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'RESOURCE_EXHAUSTED', 'ABORTED', 'INTERNAL',
    'UNKNOWN', 'CANCELLED', 'UNAUTHENTICATED'].includes(code);
  return el('span', { class: 'badge ' + (ok ? 'ok' : retry ? 'warn' : 'bad'), text: code || '—' });
}

function eventLink(source, id, text) {
  return el('a', { href: '#/events/' + encodeURIComponent(source) + '/' + encodeURIComponent(id), text: text || id });
}

function decodeBody(b64) {
  if (!b64) return '';
  try {
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, c => c.charCodeAt(0));
    const text = new TextDecoder().decode(bytes);
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text; }
  } catch (_) {
    return '(binary body, ' + b64.length + ' base64 characters)';
  }
}

// ---- API ------------------------------------------------------------------

class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401 && state.session && state.session.auth_required) {
      state.session.authenticated = false;
      showLogin();
    }
    throw new APIError(res.status, err.code || 'http_' + res.status, err.message || res.statusText);
  }
  return data;
}

function fail(err) {
  if (err instanceof APIError && err.status === 401) return;
  notice(err.message || String(err), true);
}

// ---- session --------------------------------------------------------------

async function loadSession() {
  state.session = await api('GET', '/console/session');
  document.getElementById('logout').classList.toggle('hidden', !state.session.auth_required);
}

function showLogin() {
  stopTimer();
  closeStream();
  state.view = 'login';
  const input = el('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', placeholder: 'HOOKMESH_ADMIN_TOKEN', required: true });
  const error = el('p', { class: 'error', id: 'login-error' });
  const form = el('form', {
    class: 'panel login', id: 'login',
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      try {
        await api('POST', '/console/login', { token: input.value });
        input.value = '';
        await loadSession();
        route();
      } catch (err) {
        error.textContent = err.status === 401 ? 'That token is not right.' : err.message;
      }
    },
  },
  el('h1', { text: 'Log in' }),
  el('p', { class: 'muted', text: 'Enter the gateway\'s admin token. It is exchanged for a session cookie and not stored by the page.' }),
  input, error,
  el('button', { class: 'primary', type: 'submit', text: 'Log in' }));
  render(form);
  input.focus();
}

async function logout() {
  try { await api('POST', '/console/logout'); } catch (_) { /* cookie cleared or already gone */ }
  await loadSession();
  showLogin();
}

// ---- live stream ----------------------------------------------------------

function setLive(on, text) {
  const l = document.getElementById('live');
  l.className = 'live ' + (on ? 'on' : 'off');
  l.textContent = text;
}

function openStream() {
  if (state.source) return;
  const es = new EventSource('/console/stream');
  state.source = es;
  es.onopen = () => { state.openedAt = Date.now(); setLive(true, 'live'); };
  es.onerror = () => {
    setLive(false, 'reconnecting…');
    // A refused stream (logged out, restarted without the session) closes for good.
    if (es.readyState === EventSource.CLOSED) {
      state.source = null;
      loadSession().then(() => {
        if (state.session.auth_required && !state.session.authenticated) showLogin();
        else setTimeout(openStream, 2000);
      }).catch(() => setTimeout(openStream, 2000));
    }
  };
  es.addEventListener('event', (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (_) { return; }
    if (state.liveIds.has(ev.seq)) return;
    state.liveIds.add(ev.seq);
    state.live.unshift(ev);
    if (state.live.length > MAX_LIVE) state.liveIds.delete(state.live.pop().seq);
    // Rows of the initial backlog burst do not flash; later arrivals do.
    if (state.view === 'events') addLiveRow(ev, Date.now() - (state.openedAt || 0) > 1000);
  });
}

function closeStream() {
  if (state.source) state.source.close();
  state.source = null;
  setLive(false, 'offline');
}

// ---- views ----------------------------------------------------------------

function stopTimer() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

function every(ms, fn) {
  stopTimer();
  state.timer = setInterval(fn, ms);
}

function matchesFilter(ev) {
  const f = state.filter.trim().toLowerCase();
  if (!f) return true;
  return [ev.type, ev.source, ev.id, ev.subject].some(v => (v || '').toLowerCase().includes(f));
}

function liveRow(ev, fresh) {
  return el('tr', { class: fresh ? 'fresh' : '', 'data-id': ev.id, 'data-source': ev.source },
    el('td', { class: 'nowrap mono', text: fmtTime(ev.received_time || ev.time) }),
    el('td', {}, el('span', { class: 'badge', text: ev.source })),
    el('td', { class: 'mono' }, eventLink(ev.source, ev.id, ev.type)),
    el('td', { class: 'mono wrap', text: ev.subject || '' }),
    el('td', { class: 'mono wrap muted', text: ev.id }));
}

function addLiveRow(ev, fresh) {
  if (!matchesFilter(ev)) return;
  const tbody = document.getElementById('events-body');
  if (!tbody) { viewEvents(); return; }
  tbody.prepend(liveRow(ev, fresh));
  while (tbody.children.length > MAX_LIVE) tbody.lastChild.remove();
  updateCount();
}

function updateCount() {
  const c = document.getElementById('events-count');
  if (c) c.textContent = state.live.filter(matchesFilter).length + ' shown';
}

function viewEvents() {
  stopTimer();
  const search = el('input', {
    type: 'search', placeholder: 'Filter by type, source, id or subject', value: state.filter,
    oninput: (e) => { state.filter = e.target.value; drawRows(); },
  });
  const body = el('tbody', { id: 'events-body' });
  const wrap = el('div', { class: 'panel' },
    el('table', {},
      el('thead', {}, el('tr', {}, ['Received', 'Source', 'Type', 'Subject', 'Id'].map(h => el('th', { text: h })))),
      body));
  const empty = el('div', { class: 'panel empty', id: 'events-empty', text: 'No events yet. Send one with `hookmesh send hasura`; it appears here as it arrives.' });
  function drawRows() {
    const rows = state.live.filter(matchesFilter).map(ev => liveRow(ev, false));
    body.replaceChildren(...rows);
    wrap.classList.toggle('hidden', rows.length === 0 && state.live.length === 0);
    empty.classList.toggle('hidden', state.live.length > 0);
    updateCount();
  }
  render(
    el('h1', {}, 'Events', el('span', { class: 'count', id: 'events-count' })),
    el('div', { class: 'bar' }, search, el('span', { class: 'muted', text: 'Newest first, live from the event log.' })),
    empty, wrap);
  drawRows();
  // The first live event replaces the empty state.
  const observer = new MutationObserver(() => {
    if (body.children.length) { empty.classList.add('hidden'); wrap.classList.remove('hidden'); }
  });
  observer.observe(body, { childList: true });
}

async function replayEvent(source, id, subscriptions) {
  const res = await api('POST', '/v1/events/' + encodeURIComponent(id) + ':replay', { source, subscriptions: subscriptions || [] });
  const to = (res.subscriptions || []).join(', ');
  notice(to ? 'Replay queued to ' + to + '.' : 'Nothing to replay: no subscription takes this event.', !to);
  return res;
}

function attemptsTable(attempts) {
  const rows = (attempts || []).map(a => el('tr', {},
    el('td', { text: a.number }),
    el('td', { class: 'nowrap mono', text: fmtTime(a.start_time) }),
    el('td', { class: 'nowrap', text: fmtDuration(a.duration) }),
    el('td', {}, codeBadge(a.code)),
    el('td', { class: 'wrap', text: a.message || '' }),
    el('td', { text: a.replay ? 'replay' : '' }),
    el('td', { class: 'mono wrap', text: a.trace_id || '' })));
  if (!rows.length) return el('div', { class: 'empty', text: 'No attempt yet.' });
  return el('table', {},
    el('thead', {}, el('tr', {}, ['#', 'Started', 'Took', 'Code', 'Error', '', 'Trace id'].map(h => el('th', { text: h })))),
    el('tbody', {}, rows));
}

async function viewEvent(source, id) {
  stopTimer();
  const path = '/v1/events/' + encodeURIComponent(id) + '?source=' + encodeURIComponent(source);
  async function draw() {
    let res;
    try { res = await api('GET', path); } catch (err) {
      if (err.status === 404) render(el('h1', { text: 'Event not found' }), el('p', { class: 'muted', text: source + ' / ' + id }));
      else fail(err);
      return;
    }
    if (state.view !== 'event') return;
    const ev = res.event || {};
    const normalised = Object.assign({}, ev);
    delete normalised.original_body;
    const fields = [['Id', ev.id], ['Source', ev.source], ['Type', ev.type], ['Subject', ev.subject],
      ['Time', fmtTime(ev.time)], ['Received', fmtTime(ev.received_time)], ['Content type', ev.datacontenttype],
      ['Trace parent', ev.traceparent]];
    const deliveries = (res.deliveries || []).map(d => el('div', { class: 'panel delivery', 'data-subscription': d.subscription },
      el('div', { class: 'delivery-head' },
        el('strong', { text: d.subscription }), stateBadge(d.state),
        d.next_attempt_time ? el('span', { class: 'muted', text: 'next attempt ' + fmtTime(d.next_attempt_time) }) : null,
        el('span', { class: 'spacer' }),
        short(d.state, 'DELIVERY_STATE_') === 'filtered' ? null :
          el('button', { type: 'button', text: 'Replay to ' + d.subscription, onclick: () => replayEvent(ev.source, ev.id, [d.subscription]).then(draw).catch(fail) })),
      attemptsTable(d.attempts)));
    render(
      el('h1', {}, el('span', { class: 'mono', text: ev.type }),
        el('button', { type: 'button', class: 'primary', text: 'Replay', onclick: () => replayEvent(ev.source, ev.id).then(draw).catch(fail) })),
      el('div', { class: 'panel grid' }, fields.flatMap(([k, v]) => [el('div', { class: 'k', text: k }), el('div', { class: 'mono wrap', text: v || '—' })])),
      el('h2', { text: 'Deliveries' }),
      deliveries.length ? deliveries : el('div', { class: 'panel empty', text: 'No subscription takes this event (or the dispatcher is not running).' }),
      el('div', { class: 'cols' },
        el('div', {}, el('h2', { text: 'Original body' }), el('div', { class: 'panel' }, el('pre', { id: 'original-body', text: decodeBody(ev.original_body) }))),
        el('div', {}, el('h2', { text: 'Normalised event' }), el('div', { class: 'panel' }, el('pre', { id: 'normalised', text: JSON.stringify(normalised, null, 2) })))));
  }
  await draw();
  every(2000, draw);
}

async function viewDeadLetters() {
  stopTimer();
  let includeResolved = false;
  const holder = el('div', {}, el('div', { class: 'panel empty', text: 'Loading…' }));
  async function draw() {
    let res;
    try {
      res = await api('GET', '/v1/deadletters?page_size=200' + (includeResolved ? '&include_resolved=true' : ''));
    } catch (err) { fail(err); return; }
    if (state.view !== 'deadletters') return;
    const rows = (res.dead_letters || []).map(dl => {
      const ev = dl.event || {};
      const last = (dl.attempts || [])[dl.attempts.length - 1] || {};
      const open = !dl.resolution;
      return el('tr', { 'data-id': dl.id, 'data-event-id': ev.id },
        el('td', { class: 'nowrap mono', text: fmtTime(dl.create_time) }),
        el('td', { text: dl.subscription }),
        el('td', { class: 'mono wrap' }, eventLink(ev.source, ev.id, ev.type)),
        el('td', { text: dl.reason }),
        el('td', { class: 'msg' }, codeBadge(last.code), el('div', { class: 'wrap muted', text: last.message || '' })),
        el('td', { text: (dl.attempts || []).length }),
        el('td', {}, open ? el('span', { class: 'badge bad', text: 'open' }) : el('span', { class: 'badge ok', text: dl.resolution })),
        el('td', { class: 'act' }, open ? el('div', { class: 'actions' },
          el('button', { type: 'button', class: 'primary', text: 'Replay', onclick: (e) => { e.target.disabled = true; replayEvent(ev.source, ev.id, [dl.subscription]).then(draw).catch(fail); } }),
          el('button', { type: 'button', text: 'Resolve', onclick: () => api('POST', '/v1/deadletters/' + encodeURIComponent(dl.id) + ':resolve', {}).then(() => { notice('Dead letter resolved.'); draw(); }).catch(fail) })) : null));
    });
    holder.replaceChildren(table(['Dead since', 'Subscription', 'Event', 'Reason', 'Last attempt', 'Attempts', 'Status', ''], rows,
      includeResolved ? 'No dead letters.' : 'No open dead letters.'));
  }
  render(
    el('h1', { text: 'Dead letters' }),
    el('div', { class: 'bar' }, el('label', {}, el('input', { type: 'checkbox', onchange: (e) => { includeResolved = e.target.checked; draw(); } }), ' include resolved and replayed')),
    holder);
  await draw();
  every(3000, draw);
}

async function viewSubscriptions() {
  stopTimer();
  const holder = el('div', {}, el('div', { class: 'panel empty', text: 'Loading…' }));
  async function draw() {
    let res;
    try { res = await api('GET', '/v1/subscriptions'); } catch (err) { fail(err); return; }
    if (state.view !== 'subscriptions') return;
    const rows = (res.subscriptions || []).map(s => el('tr', { 'data-name': s.name },
      el('td', {}, el('strong', { text: s.name })),
      el('td', { class: 'mono nowrap', text: s.target }),
      el('td', { class: 'mono wrap', text: (s.events || []).join(', ') }),
      el('td', {}, s.paused ? el('span', { class: 'badge warn', text: 'paused' }) : el('span', { class: 'badge ok', text: 'active' })),
      el('td', { class: 'num', text: s.backlog }),
      el('td', { class: 'nowrap', text: Number(s.backlog) > 0 ? fmtDuration(s.oldest_undelivered_age) : '—' }),
      el('td', {}, healthBadge(s.health)),
      el('td', { text: s.delivered }),
      el('td', { text: s.dead_letters }),
      el('td', { class: 'mono nowrap', text: (s.start_from || 'new') + (s.backfilling ? ' · backfill ' + (s.acked_through || 0) + '/' + s.backfill_through : '') }),
      el('td', { class: 'act' }, el('button', {
        type: 'button', text: s.paused ? 'Resume' : 'Pause',
        onclick: () => api('POST', '/v1/subscriptions/' + encodeURIComponent(s.name) + (s.paused ? ':resume' : ':pause'), {})
          .then(() => { notice(s.name + (s.paused ? ' resumed.' : ' paused.')); draw(); }).catch(fail),
      }))));
    holder.replaceChildren(table(['Name', 'Target', 'Events', 'State', 'Backlog', 'Oldest undelivered', 'Health', 'Delivered', 'Dead letters', 'Start from', ''], rows, 'No subscriptions configured.'));
  }
  render(el('h1', { text: 'Subscriptions' }), holder);
  await draw();
  every(3000, draw);
}

// ---- routing --------------------------------------------------------------

function route() {
  if (state.session && state.session.auth_required && !state.session.authenticated) {
    showLogin();
    return;
  }
  openStream();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  let view = parts[0] || 'events';
  if (view === 'events' && parts.length >= 3) view = 'event';
  state.view = view;
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.view === (view === 'event' ? 'events' : view));
  }
  switch (view) {
    case 'event': viewEvent(parts[1], parts.slice(2).join('/')).catch(fail); break;
    case 'deadletters': viewDeadLetters().catch(fail); break;
    case 'subscriptions': viewSubscriptions().catch(fail); break;
    default: state.view = 'events'; viewEvents();
  }
}

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('logout').addEventListener('click', logout);
  try {
    await loadSession();
  } catch (err) {
    render(el('p', { class: 'muted', text: 'The gateway did not answer: ' + err.message }));
    return;
  }
  route();
});
