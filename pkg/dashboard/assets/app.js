// contactsync dashboard: vanilla JS, no build step, no dependencies.
// Every value from the server is put into the page with textContent or
// attributes, never as HTML.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);

// el builds an element: el('td', {class: 'x', onclick: fn}, 'text', child...)
function el(tag, attrs, ...children) {
  const svg = tag.startsWith('svg:');
  const node = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(path, body) {
  const opts = { headers: { 'X-Requested-With': 'contactsync', Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.method = 'POST';
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch (_) { /* not JSON */ }
  if (!res.ok) throw new Error((data && data.error) || res.status + ' ' + res.statusText);
  return data;
}

function toast(msg, isError) {
  const t = el('div', { class: 'toast' + (isError ? ' error' : ''), role: isError ? 'alert' : 'status' }, msg);
  $('#toasts').append(t);
  setTimeout(() => t.remove(), isError ? 9000 : 5000);
}

// ask shows a modal; resolves to the typed text ('' without input) or null.
function ask({ title, text, input, required, ok = 'OK', okClass = 'primary' }) {
  const dlg = $('#dialog');
  $('#dialog-title').textContent = title;
  $('#dialog-text').textContent = text || '';
  const field = $('#dialog-input');
  field.hidden = !input;
  field.value = '';
  field.placeholder = input || '';
  const okBtn = $('#dialog-ok');
  okBtn.textContent = ok;
  okBtn.className = 'btn ' + okClass;
  const sync = () => { okBtn.disabled = !!(required && !field.value.trim()); };
  field.oninput = sync;
  sync();
  dlg.returnValue = '';
  dlg.showModal();
  if (input) field.focus(); else okBtn.focus();
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok' ? field.value.trim() : null), { once: true });
  });
}

const fmt = {
  time(iso) {
    if (!iso || iso.startsWith('0001')) return '–';
    const d = new Date(iso);
    return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  },
  day(isoDay) {
    const d = new Date(isoDay + 'T00:00:00Z');
    return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
  },
  n(x) { return (x || 0).toLocaleString(); },
};

const pill = (status) => el('span', { class: 'pill ' + status }, status);
const code = (s) => el('span', { class: 'code' }, s);

// Reasons keep one colour everywhere (chart, legend, groups).
const palette = ['#2457d6', '#e8590c', '#0ca678', '#ae3ec9', '#f59f00', '#1098ad', '#e03131', '#5c940d', '#6741d9', '#495057'];
const colours = new Map();
function colour(reason) {
  if (!colours.has(reason)) colours.set(reason, palette[colours.size % palette.length]);
  return colours.get(reason);
}

// ---------------------------------------------------------------- state

const state = {
  filter: { status: 'open', reason: '', stage: '', system: '', q: '', from: '', to: '' },
  offset: 0,
  limit: 25,
  total: 0,
  selected: new Set(),
  summary: null,
  maxExport: 0, // the server's cap on one kick-out export (from /api/me)
  personPages: false, // whether the server can show person pages (from /api/me)
};

// ---------------------------------------------------------------- routing

function show(view) {
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== 'view-' + view;
  for (const t of document.querySelectorAll('.tab')) t.classList.remove('active');
  const tab = { queue: 'queue', record: 'queue', person: 'queue', review: 'review', audit: 'audit' }[view];
  $('#tab-' + tab).classList.add('active');
}

async function route() {
  const hash = location.hash || '#/queue';
  try {
    if (hash.startsWith('#/kickout/')) {
      show('record');
      await loadRecord(decodeURIComponent(hash.slice('#/kickout/'.length)));
    } else if (hash.startsWith('#/person/')) {
      show('person');
      await loadPerson(decodeURIComponent(hash.slice('#/person/'.length)));
    } else if (hash.startsWith('#/review')) {
      show('review');
      await loadReviews();
    } else if (hash.startsWith('#/audit')) {
      show('audit');
      await loadAudit();
    } else {
      show('queue');
      await loadQueue();
    }
  } catch (e) {
    toast(e.message, true);
  }
}

// ---------------------------------------------------------------- queue

async function loadQueue() {
  await Promise.all([loadSummary(), loadList()]);
}

async function loadSummary() {
  const s = await api('/api/summary');
  state.summary = s;
  $('#stat-open').textContent = fmt.n(s.open);
  $('#stat-replayed').textContent = fmt.n(s.replayed);
  $('#stat-resolved').textContent = fmt.n(s.resolved);
  $('#stat-review').textContent = fmt.n(s.pending_reviews);
  setCounts(s.open, s.pending_reviews);
  const reasons = [...new Set(s.groups.map((g) => g.reason))].sort();
  reasons.forEach(colour);
  drawChart(s.days, reasons);
  $('#chart-range').textContent = `last ${s.days.length} days · UTC`;
  drawGroups(s.groups);
  fillSelect('#f-reason', reasons, 'Any reason');
  fillSelect('#f-stage', [...new Set(s.groups.map((g) => g.stage))].sort(), 'Any stage');
  fillSelect('#f-system', s.systems, 'Any system');
}

function setCounts(open, pending) {
  $('#tab-queue-count').textContent = open ? fmt.n(open) : '';
  $('#tab-review-count').textContent = pending ? fmt.n(pending) : '';
}

function fillSelect(sel, values, anyLabel) {
  const s = $(sel);
  const cur = s.value;
  s.replaceChildren(el('option', { value: '' }, anyLabel), ...values.map((v) => el('option', { value: v }, v)));
  s.value = values.includes(cur) ? cur : '';
}

function drawChart(days, reasons) {
  const W = 720, H = 262, L = 34, R = 8, T = 10, B = 24;
  const max = Math.max(1, ...days.map((d) => d.total));
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const slot = (W - L - R) / Math.max(days.length, 1);
  const svg = el('svg:svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none' });
  for (let v = 0; v <= top; v += step) {
    svg.append(el('svg:line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    svg.append(el('svg:text', { class: 'axis', x: L - 6, y: y(v) + 3, 'text-anchor': 'end' }, v));
  }
  const every = Math.ceil(days.length / 8);
  days.forEach((d, i) => {
    const x = L + i * slot + slot * 0.15;
    let base = 0;
    for (const r of reasons) {
      const n = d.by_reason[r] || 0;
      if (!n) continue;
      svg.append(el('svg:rect', { class: 'bar', x, width: slot * 0.7, y: y(base + n), height: y(base) - y(base + n), fill: colour(r), rx: 1.5 },
        el('svg:title', {}, `${fmt.day(d.day)} · ${r}: ${n}`)));
      base += n;
    }
    if (i % every === 0 || (i === days.length - 1 && i % every >= every / 2)) {
      svg.append(el('svg:text', { class: 'axis', x: x + slot * 0.35, y: H - 8, 'text-anchor': 'middle' }, fmt.day(d.day)));
    }
  });
  $('#chart').replaceChildren(svg);
  $('#legend').replaceChildren(...reasons.map((r) =>
    el('span', {}, el('i', { class: 'swatch', 'data-colour': colour(r) }), r)));
  // Swatch colours are set through the CSSOM (allowed by the CSP).
  for (const sw of document.querySelectorAll('.swatch[data-colour]')) sw.style.background = sw.dataset.colour;
}

function niceStep(max) {
  const raw = max / 4;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return Math.max(1, m * mag);
  return Math.max(1, 10 * mag);
}

function drawGroups(groups) {
  const box = $('#groups');
  if (!groups.length) {
    box.replaceChildren(el('div', { class: 'empty' }, 'No kick-outs in this period. 🎉'));
    return;
  }
  box.replaceChildren(...groups.map((g) => {
    const selected = state.filter.reason === g.reason && state.filter.stage === g.stage;
    const bar = el('span', { class: 'g-bar' });
    bar.style.background = colour(g.reason);
    return el('button', {
      type: 'button', class: 'group' + (selected ? ' selected' : ''), 'data-reason': g.reason,
      onclick: () => {
        Object.assign(state.filter, { reason: g.reason, stage: g.stage, status: 'open', q: '' });
        syncFilterForm();
        reloadList();
        drawGroups(state.summary.groups);
        $('#filters').scrollIntoView({ behavior: 'smooth', block: 'start' });
      },
    },
    bar,
    el('span', {}, el('div', { class: 'g-reason' }, g.reason, ' ', el('span', { class: 'muted' }, 'in ' + g.stage)),
      el('div', { class: 'g-help' }, g.help)),
    el('span', { class: 'g-n' }, el('div', { class: 'g-open' + (g.open ? '' : ' zero') }, fmt.n(g.open)),
      el('div', { class: 'g-total' }, `open of ${fmt.n(g.total)}`)));
  }));
}

function syncFilterForm() {
  const f = state.filter;
  $('#search').value = f.q;
  $('#f-status').value = f.status;
  $('#f-reason').value = f.reason;
  $('#f-stage').value = f.stage;
  $('#f-system').value = f.system;
  $('#f-from').value = f.from;
  $('#f-to').value = f.to;
}

function readFilterForm() {
  Object.assign(state.filter, {
    q: $('#search').value.trim(), status: $('#f-status').value, reason: $('#f-reason').value,
    stage: $('#f-stage').value, system: $('#f-system').value, from: $('#f-from').value, to: $('#f-to').value,
  });
  // A search looks everywhere: a record that was replayed is found too.
  if (state.filter.q && state.filter.status === 'open') {
    state.filter.status = '';
    $('#f-status').value = '';
  }
}

function filterQuery(extra) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...state.filter, ...extra })) if (v !== '' && v !== undefined) p.set(k, v);
  return p.toString();
}

function reloadList() {
  state.offset = 0;
  state.selected.clear();
  loadList().catch((e) => toast(e.message, true));
}

async function loadList() {
  const res = await api('/api/kickouts?' + filterQuery({ offset: state.offset, limit: state.limit }));
  state.total = res.total;
  const tbody = $('#kickouts tbody');
  tbody.replaceChildren(...res.items.map((k) => {
    const cb = el('input', { type: 'checkbox', 'aria-label': 'Select ' + k.id, disabled: k.status !== 'open' });
    cb.checked = state.selected.has(k.id);
    cb.addEventListener('click', (e) => e.stopPropagation());
    cb.addEventListener('change', () => { cb.checked ? state.selected.add(k.id) : state.selected.delete(k.id); updateBulk(); });
    return el('tr', { class: 'row', 'data-id': k.id, onclick: () => { location.hash = '#/kickout/' + encodeURIComponent(k.id); } },
      el('td', { class: 'cb' }, cb),
      el('td', { class: 'when' }, fmt.time(k.first_seen)),
      el('td', {}, code(k.reason)),
      el('td', {}, k.stage),
      el('td', {}, k.system || '–'),
      el('td', { class: 'mono' }, k.record_id || '–', personLine(k)),
      el('td', { class: 'err' }, k.error),
      el('td', {}, pill(k.status), k.replay_count ? el('div', { class: 'muted' }, `replay #${k.replay_count}`) : null));
  }));
  $('#empty').hidden = res.items.length > 0;
  const last = Math.min(state.offset + res.items.length, res.total);
  $('#page-info').textContent = res.total ? `${state.offset + 1}–${last} of ${fmt.n(res.total)}` : '0 of 0';
  // The export takes the same filters, all pages (capped: the file says when it was cut).
  const exp = $('#export-kickouts');
  exp.href = '/api/export/kickouts.csv?' + filterQuery({});
  const max = state.maxExport;
  exp.title = max && res.total > max
    ? `Only the newest ${fmt.n(max)} of ${fmt.n(res.total)} match: narrow the filters to export the rest`
    : `Download the ${fmt.n(res.total)} matching kick-out(s) as CSV`;
  $('#prev').disabled = state.offset === 0;
  $('#next').disabled = last >= res.total;
  $('#check-all').checked = false;
  updateBulk();
}

function updateBulk() {
  const n = state.selected.size;
  $('#replay-selected').disabled = n === 0;
  $('#replay-selected').textContent = n ? `Replay selected (${n})` : 'Replay selected';
  const f = state.filter;
  const filtered = f.reason || f.stage || f.system || f.q || f.from || f.to;
  $('#replay-matching').disabled = !(filtered && state.total > 0 && (f.status === 'open' || f.status === ''));
}

function describeFilter() {
  const f = state.filter;
  const parts = [];
  if (f.reason) parts.push('reason ' + f.reason);
  if (f.stage) parts.push('stage ' + f.stage);
  if (f.system) parts.push('system ' + f.system);
  if (f.q) parts.push('search "' + f.q + '"');
  if (f.from) parts.push('from ' + f.from);
  if (f.to) parts.push('to ' + f.to);
  return parts.join(', ');
}

async function bulkReplay(body, label) {
  try {
    const dry = await api('/api/replay', { ...body, dry_run: true });
    const n = dry.matched - dry.remaining;
    if (!n) { toast('Nothing to replay: no open kick-out matches.'); return; }
    const answer = await ask({
      title: `Replay ${n} kick-out${n === 1 ? '' : 's'}?`,
      text: `${label}. They go back to the start of the pipeline in the order they happened. ` +
        'Any that fail again return to this queue.' + (dry.remaining ? ` ${dry.remaining} more are left for another run.` : ''),
      ok: `Replay ${n}`,
    });
    if (answer === null) return;
    const res = await api('/api/replay', body);
    toast(`${res.replayed.length} replayed, ${res.skipped.length} skipped, ${res.failed.length} failed`, res.failed.length > 0);
    state.selected.clear();
    await loadQueue();
  } catch (e) {
    toast(e.message, true);
  }
}

function wireQueue() {
  $('#filters').addEventListener('submit', (e) => { e.preventDefault(); readFilterForm(); reloadList(); drawGroups(state.summary ? state.summary.groups : []); });
  for (const id of ['#f-status', '#f-reason', '#f-stage', '#f-system', '#f-from', '#f-to']) {
    $(id).addEventListener('change', () => { readFilterForm(); reloadList(); if (state.summary) drawGroups(state.summary.groups); });
  }
  $('#f-clear').addEventListener('click', () => {
    state.filter = { status: 'open', reason: '', stage: '', system: '', q: '', from: '', to: '' };
    syncFilterForm();
    reloadList();
    if (state.summary) drawGroups(state.summary.groups);
  });
  $('#prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - state.limit); loadList(); });
  $('#next').addEventListener('click', () => { state.offset += state.limit; loadList(); });
  $('#check-all').addEventListener('change', (e) => {
    for (const cb of document.querySelectorAll('#kickouts tbody input[type=checkbox]:not(:disabled)')) {
      cb.checked = e.target.checked;
      const id = cb.closest('tr').dataset.id;
      e.target.checked ? state.selected.add(id) : state.selected.delete(id);
    }
    updateBulk();
  });
  $('#replay-selected').addEventListener('click', () =>
    bulkReplay({ ids: [...state.selected] }, `${state.selected.size} selected kick-out(s)`));
  $('#replay-matching').addEventListener('click', () => {
    const f = state.filter;
    bulkReplay({ reason: f.reason, stage: f.stage, system: f.system, q: f.q, from: f.from, to: f.to },
      'Every open kick-out with ' + describeFilter());
  });
}

// ---------------------------------------------------------------- record

// payloadPre shows bytes; marks, when given, are values to highlight
// (the quoted values of the error message, e.g. the bad email address).
function payloadPre(p, id, marks) {
  const text = p.text !== undefined ? p.text : p.base64;
  if (text === '') return el('pre', { class: 'payload', id }, '(empty)');
  return el('pre', { class: 'payload', id }, highlight(text, p.text !== undefined ? marks : []));
}

function highlight(text, marks) {
  const terms = (marks || []).filter((m) => m && text.includes(m));
  if (!terms.length) return [text];
  const out = [];
  let rest = text;
  for (;;) {
    let at = -1, term = '';
    for (const m of terms) {
      const i = rest.indexOf(m);
      if (i >= 0 && (at < 0 || i < at)) { at = i; term = m; }
    }
    if (at < 0) break;
    out.push(rest.slice(0, at), el('mark', {}, term));
    rest = rest.slice(at + term.length);
  }
  out.push(rest);
  return out;
}

// quoted returns the "quoted" values of an error message.
function quoted(msg) {
  return [...(msg || '').matchAll(/"([^"]{2,200})"/g)].map((m) => m[1]);
}

function fact(label, value, node) {
  if (!value && !node) return null;
  return el('div', {}, el('dt', {}, label), el('dd', {}, node || value));
}

const recordLink = (id) => el('a', { href: '#/kickout/' + encodeURIComponent(id) }, id);

// personLink leads to the person page when the server has person pages.
const personLink = (id) => state.personPages
  ? el('a', { href: '#/person/' + encodeURIComponent(id), class: 'person-link mono' }, id)
  : code(id);

async function loadRecord(id) {
  const d = await api('/api/kickouts/' + encodeURIComponent(id));
  const box = $('#record');
  const dec = d.decoded;
  const marks = quoted(d.error);
  let decodedNode;
  if (dec.changes && dec.changes.length) {
    decodedNode = payloadPre({ text: dec.changes.map((c) => JSON.stringify(c, null, 2)).join('\n\n') }, 'decoded', marks);
  } else if (dec.json) {
    decodedNode = payloadPre({ text: JSON.stringify(dec.json, null, 2) }, 'decoded', marks);
  } else {
    decodedNode = el('div', { class: 'empty' }, 'The record could not be decoded.');
  }
  const notes = [dec.json_error && `The raw value is ${dec.json_error}.`, dec.decode_error && `Decoding failed: ${dec.decode_error}`]
    .filter(Boolean).map((t) => el('p', { class: 'payload-note warn-note' }, t));

  box.replaceChildren(
    el('div', { class: 'rec-head' }, el('h1', {}, 'Kick-out'), code(d.id), pill(d.status),
      d.replay_count ? el('span', { class: 'muted' }, `replay #${d.replay_count} of an earlier kick-out`) : null),
    el('div', { class: 'help' }, el('b', {}, d.reason), d.help),
    el('div', { class: 'card' },
      el('dl', { class: 'facts' },
        fact('When', fmt.time(d.first_seen)),
        fact('Stage', d.stage),
        fact('Source system', d.system),
        fact('Record id', d.record_id),
        fact('Person', null, d.person_id ? personLink(d.person_id) : null),
        fact('Event id', d.event_id),
        fact('First attempt event id', d.original_event_id),
        fact('Read from', `${d.topic} · partition ${d.partition} · offset ${d.offset}`),
        fact('Replay of', null, d.replay_of ? recordLink(d.replay_of) : null),
        fact('Failed again as', null, d.replayed_as ? recordLink(d.replayed_as) : null))),
    el('div', { class: 'card' }, el('h2', {}, 'What went wrong'), el('div', { class: 'error-box', id: 'error' }, d.error || '(no message)'),
      d.explanation ? [el('h2', { class: 'spaced' }, 'Match explanation'), el('div', { class: 'explain', id: 'explanation' }, d.explanation)] : null),
    el('div', { class: 'grid2 top' },
      el('div', { class: 'card' }, el('div', { class: 'card-h' }, el('h2', {}, 'Raw input'), el('span', { class: 'muted' }, `${dec.format_label} · ${fmt.n(d.value.bytes)} bytes` + (d.value.base64 ? ' · base64' : ''))),
        payloadPre(d.value, 'raw', marks), ...notes),
      el('div', { class: 'card' }, el('div', { class: 'card-h' }, el('h2', {}, 'Decoded'),
        el('span', { class: 'muted' }, dec.changes && dec.changes.length ? 'canonical contact change' : 'as JSON')), decodedNode,
        dec.match ? el('p', { class: 'payload-note' }, `Matcher: ${dec.match.decision}, score ${dec.match.score}` +
          (dec.match.candidates && dec.match.candidates.length ? `, candidates ${dec.match.candidates.join(', ')}` : '')) : null)),
    fixCard(d),
    el('div', { class: 'card' }, el('details', {}, el('summary', {}, `Record key and ${d.headers.length} header(s)`),
      el('div', { class: 'kv' }, el('span', { class: 'muted' }, 'key'), el('span', { class: 'mono' }, d.key.text !== undefined ? d.key.text : 'base64:' + d.key.base64),
        ...d.headers.flatMap((h) => [el('span', { class: 'muted' }, h.key), el('span', { class: 'mono' }, h.value.text !== undefined ? h.value.text : 'base64:' + h.value.base64)])))),
  );
  if (d.reason === 'match.ambiguous' && window.decisionsCard) window.decisionsCard(d, box);
}

// personLine names the person of a row: "Ann Lee, Perth".
function personLine(x) {
  if (!x.name && !x.town) return null;
  return el('div', { class: 'person-line' }, [x.name, x.town].filter(Boolean).join(', '));
}

function fixCard(d) {
  if (!d.can_replay) {
    const parts = [];
    if (d.replay) {
      const r = d.replay;
      parts.push(el('div', { class: 'done-box', id: 'replay-done' },
        `${r.edited ? 'Fixed and resubmitted' : 'Replayed'} by ${r.who} on ${fmt.time(r.at)} as replay #${r.count} ` +
        `(${r.topic}, partition ${r.partition}, offset ${r.offset}).`,
        d.replayed_as ? el('div', {}, 'It failed again: ', recordLink(d.replayed_as)) : el('div', {}, 'If it fails again it comes back to this queue, linked to this one.')));
      if (r.sent) parts.push(el('h2', { class: 'spaced' }, 'Payload sent'), payloadPre(r.sent, 'sent'));
    } else if (d.resolution) {
      const r = d.resolution;
      parts.push(el('div', { class: 'done-box' }, `Resolved by ${r.who} on ${fmt.time(r.at)}: ${r.why}`));
    } else {
      parts.push(el('p', { class: 'muted' }, 'This kick-out cannot be replayed: ' + d.cannot_replay));
    }
    return el('div', { class: 'card' }, el('h2', {}, 'Replay'), ...parts);
  }
  const area = el('textarea', { id: 'edit', spellcheck: 'false', 'aria-label': 'Payload to resubmit' });
  area.value = d.edit_text || '';
  // Tall enough to show the whole record, so the value to fix is in view.
  area.rows = Math.min(Math.max(area.value.split('\n').length + 1, 8), 40);
  const explain = d.edit_kind === 'change-json'
    ? 'This record is binary (Avro); it is shown here as the canonical contact change in JSON. Edit the values, then resubmit: it is encoded again and sent to the replay topic.'
    : 'Edit the input below (for example correct an email address), then resubmit. It goes to the replay topic and re-enters the pipeline at ingest, with its history.';
  const send = async (payload) => {
    const r = await api(`/api/kickouts/${encodeURIComponent(d.id)}/replay`, payload === undefined ? {} : { payload });
    toast(`Sent to ${r.topic} as replay #${r.count}.`);
    await loadRecord(d.id);
    loadSummary().catch(() => {});
  };
  return el('div', { class: 'card' },
    el('div', { class: 'card-h' }, el('h2', {}, 'Fix & resubmit'), el('span', { class: 'muted' }, d.edit_kind === 'change-json' ? 'canonical change (JSON)' : 'input JSON')),
    el('p', { class: 'muted' }, explain),
    area,
    el('div', { class: 'edit-actions' },
      el('button', {
        class: 'btn primary', id: 'resubmit', type: 'button',
        onclick: async () => {
          const edited = area.value;
          const changed = edited.trim() !== (d.edit_text || '').trim();
          const ok = await ask({
            title: changed ? 'Resubmit the fixed record?' : 'Nothing was changed. Replay it as it is?',
            text: changed ? 'The edited payload goes to the replay topic. The original stays here, marked replayed.'
              : 'The record goes to the replay topic unchanged, for example after a rule fix.',
            ok: changed ? 'Resubmit' : 'Replay',
          });
          if (ok === null) return;
          try { await send(changed ? edited : undefined); } catch (e) { toast(e.message, true); }
        },
      }, 'Fix & resubmit'),
      el('button', {
        class: 'btn', id: 'replay-unchanged', type: 'button',
        onclick: async () => {
          const ok = await ask({ title: 'Replay unchanged?', text: 'Use this after a rule or data fix elsewhere.', ok: 'Replay' });
          if (ok === null) return;
          try { await send(undefined); } catch (e) { toast(e.message, true); }
        },
      }, 'Replay unchanged'),
      el('span', { class: 'spacer' }),
      el('button', {
        class: 'btn bad', id: 'resolve', type: 'button',
        onclick: async () => {
          const why = await ask({ title: 'Mark as resolved without replay?', text: 'Say why, for the audit log (e.g. "corrected in the donor database").',
            input: 'Reason', required: true, ok: 'Mark resolved', okClass: 'bad' });
          if (why === null) return;
          try {
            await api(`/api/kickouts/${encodeURIComponent(d.id)}/resolve`, { why });
            toast('Marked resolved.');
            await loadRecord(d.id);
          } catch (e) { toast(e.message, true); }
        },
      }, 'Mark resolved…')));
}

// ---------------------------------------------------------------- person

const shown = (v, cleared) => cleared ? '(cleared)' : (v === '' ? '(empty)' : v);

async function loadPerson(id) {
  const box = $('#person');
  box.replaceChildren(el('div', { class: 'card empty' }, 'Reading the audit topic…'));
  const p = await api('/api/people/' + encodeURIComponent(id));
  const links = p.links.length
    ? el('table', { class: 'list', id: 'person-links' },
      el('thead', {}, el('tr', {}, el('th', {}, 'System'), el('th', {}, 'Record id'))),
      el('tbody', {}, ...p.links.map((l) => el('tr', {}, el('td', {}, l.system), el('td', { class: 'mono' }, l.record_id)))))
    : el('div', { class: 'empty', id: 'person-links' }, 'No record is linked to this person now.');
  const rows = p.entries.map((e) => el('tr', { class: 'entry' + (e.kickout_reason && !e.field ? ' kicked' : '') },
    el('td', { class: 'when' }, fmt.time(e.time)),
    el('td', {}, e.field ? e.field.replace(/_/g, ' ') : (e.kickout_reason ? '–' : 'gift')),
    el('td', {}, e.field ? [el('span', { class: 'cur' }, shown(e.old)), ' → ', el('span', { class: 'new' }, shown(e.new, e.new_cleared))] : '–'),
    el('td', {}, `${e.source_system}/${e.origin}`, el('div', { class: 'muted mono' }, e.source_record_id)),
    el('td', {}, e.rule ? code(e.rule + (e.policy ? '/' + e.policy : '')) : '–'),
    el('td', { class: 'outcome' }, e.outcome)));
  const household = p.household_id
    ? el('p', { id: 'person-household' }, 'Household: ', code(p.household_id),
      el('span', { class: 'muted' }, ' (shared by the persons recorded under one family name at one address)'))
    : el('p', { class: 'muted', id: 'person-household' }, 'No household is known for this person.');
  box.replaceChildren(
    el('div', { class: 'rec-head' }, el('h1', {}, 'Person'), code(p.person_id)),
    el('div', { class: 'card' }, el('h2', {}, 'Linked records now'), links, household),
    el('div', { class: 'card' },
      el('div', { class: 'card-h' }, el('h2', {}, 'Why did this field change?'),
        el('span', { class: 'muted' }, `${fmt.n(p.entries.length)} decision(s), oldest first · source time · UTC`)),
      p.entries.length
        ? el('div', { class: 'table-wrap' }, el('table', { class: 'list', id: 'timeline' },
          el('thead', {}, el('tr', {}, el('th', {}, 'When'), el('th', {}, 'Field'), el('th', {}, 'Change'),
            el('th', {}, 'From'), el('th', {}, 'Rule'), el('th', {}, 'Outcome'))),
          el('tbody', {}, ...rows)))
        : el('div', { class: 'empty', id: 'timeline' }, 'No decision about this person is in the audit topic (its retention may have dropped them).'),
      p.unreadable ? el('p', { class: 'payload-note warn-note' }, `${p.unreadable} audit record(s) of this person could not be read.`) : null));
}

// ---------------------------------------------------------------- review

async function loadReviews() {
  const status = $('#r-status').value;
  $('#export-reviews').href = '/api/export/reviews.csv?status=' + encodeURIComponent(status);
  const [res] = await Promise.all([api('/api/reviews?status=' + encodeURIComponent(status)), refreshCounts()]);
  const box = $('#reviews');
  if (!res.items.length) {
    box.replaceChildren(el('div', { class: 'card empty' }, status === 'pending' ? 'No changes are waiting for review.' : 'No review items.'));
    return;
  }
  box.replaceChildren(...res.items.map(reviewCard));
}

async function refreshCounts() {
  try {
    const s = await api('/api/summary');
    state.summary = s;
    setCounts(s.open, s.pending_reviews);
  } catch (_) { /* counts are a nicety */ }
}

function reviewCard(it) {
  const c = it.change;
  const why = el('input', { type: 'text', placeholder: 'Reason (required to reject, optional to approve)', 'aria-label': 'Reason for the decision' });
  const decide = async (action) => {
    if (action === 'reject' && !why.value.trim()) { toast('Say why the change is rejected.', true); why.focus(); return; }
    try {
      const v = await api(`/api/reviews/${encodeURIComponent(it.id)}/${action}`, { why: why.value.trim() });
      card.replaceWith(reviewCard(v));
      toast(action === 'approve' ? 'Approved: the change is on its way.' : 'Rejected.');
      refreshCounts();
    } catch (e) { toast(e.message, true); }
  };
  const card = el('div', { class: 'card review ' + it.status, 'data-id': it.id },
    el('div', { class: 'card-h' }, el('h3', {}, `Change to ${it.target_system} for person `, it.person_id ? personLink(it.person_id) : '–', personLine(it)), pill(it.status)),
    el('div', { class: 'review-meta' },
      `Held because: ${it.reason}. From ${c.source_system} record ${c.source_record_id} (${c.origin.replace('_', '-')}), ` +
      `${fmt.time(c.source_time)}. Event ${c.event_id}.`),
    el('table', { class: 'diff' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Field'), el('th', {}, `Now in ${it.target_system}`), el('th', {}, 'Proposed'))),
      el('tbody', {}, ...it.fields.map((f) => {
        const same = f.current === f.proposed;
        return el('tr', { class: same ? 'same' : '' }, el('td', {}, f.field.replace(/_/g, ' ')),
          el('td', { class: 'cur' }, f.current || '(empty)'),
          el('td', { class: 'new' }, same ? f.proposed + ' (unchanged)' : f.proposed || '(clear)'));
      }))),
    it.status === 'pending'
      ? el('div', { class: 'review-actions' }, why,
        el('button', { class: 'btn ok approve', type: 'button', onclick: () => decide('approve') }, 'Approve'),
        el('button', { class: 'btn bad reject', type: 'button', onclick: () => decide('reject') }, 'Reject'))
      : el('div', { class: 'decision' },
        it.decision ? `${it.status === 'approved' ? 'Approved' : 'Rejected'} by ${it.decision.who} on ${fmt.time(it.decision.at)}` +
          (it.decision.why ? ` — “${it.decision.why}”` : '') : '',
        it.emitted_event_id ? el('div', { class: 'muted' }, `Sent on as event ${it.emitted_event_id}.`) : null));
  return card;
}

// ---------------------------------------------------------------- audit

const actionLabels = { replay: 'Replayed', fix_resubmit: 'Fixed & resubmitted', resolve: 'Resolved', approve: 'Approved', reject: 'Rejected' };

async function loadAudit() {
  const res = await api('/api/audit?limit=200');
  const rows = res.items.map((e) => el('tr', {},
    el('td', { class: 'when' }, fmt.time(e.at)),
    el('td', {}, e.who),
    el('td', {}, actionLabels[e.action] || e.action),
    el('td', { class: 'mono' }, e.target.startsWith('ko-') ? recordLink(e.target) : e.target),
    el('td', {}, e.detail || '')));
  $('#audit tbody').replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'Nothing has been done yet.'))]));
}

// ---------------------------------------------------------------- start

async function start() {
  wireQueue();
  $('#r-status').addEventListener('change', () => loadReviews().catch((e) => toast(e.message, true)));
  window.addEventListener('hashchange', route);
  try {
    const me = await api('/api/me');
    $('#who').textContent = 'Signed in as ' + me.who;
    state.maxExport = me.max_export_kickouts || 0;
    state.personPages = !!me.person_pages;
  } catch (e) {
    toast(e.message, true);
  }
  await route();
  document.body.dataset.ready = 'true';
}

start();
