// contactsync dashboard: deciding what the matcher could not. A
// match.ambiguous kick-out shows its record beside each candidate person,
// field by field in words, with three actions. Uses el, api, toast, code and
// ask from app.js; every server value goes in as text.
'use strict';

window.decisionsCard = async function decisionsCard(d, box) {
  const card = el('div', { class: 'card decide', id: 'decide' }, el('h2', {}, 'Who is this? Loading the candidates…'));
  const help = box.querySelector('.help');
  if (help) help.after(card); else box.prepend(card);
  let v;
  try {
    v = await api('/api/kickouts/' + encodeURIComponent(d.id) + '/candidates');
  } catch (e) {
    card.replaceChildren(el('h2', {}, 'Who is this?'), el('p', { class: 'muted' }, 'The candidates cannot be shown: ' + e.message));
    return;
  }
  card.replaceChildren(...decideParts(v));
};

function decideParts(v) {
  const who = [v.name, v.town].filter(Boolean).join(', ') || 'this record';
  const parts = [
    el('h2', {}, 'Who is this? ', el('span', { class: 'muted' }, `${who} · `), code(v.record_id)),
    el('p', { class: 'muted' }, 'The matcher could not tell. Compare the record with each candidate and decide; ' +
      'the decision is kept and the matcher follows it from now on.'),
  ];
  const dec = v.decisions || {};
  if (dec.note) parts.push(el('p', { class: 'payload-note', id: 'decide-note' }, `Left open by ${dec.note.who} on ${fmt.time(dec.note.at)}: “${dec.note.why}”`));
  if (dec.must_link) parts.push(el('p', { class: 'payload-note' }, `Decided to be person ${dec.must_link}.`));
  if (!v.candidates.length) parts.push(el('p', { class: 'empty' }, 'The kick-out names no candidate person.'));
  for (const c of v.candidates) parts.push(candidateBlock(v, c));
  if (v.can_decide) {
    parts.push(el('div', { class: 'review-actions decide-actions' },
      el('button', { class: 'btn bad', type: 'button', id: 'decide-different', onclick: () => decide(v, { action: 'different' }, 'a different person') },
        v.candidates.length > 1 ? 'A different person (none of these)' : 'A different person'),
      el('button', { class: 'btn ghost', type: 'button', id: 'decide-open', onclick: () => decide(v, { action: 'cannot_tell' }, 'left open') },
        'Cannot tell (leave open)')));
  } else if (v.cannot_why) {
    parts.push(el('p', { class: 'muted' }, 'No decision can be made now: ' + v.cannot_why));
  }
  return parts;
}

function candidateBlock(v, c) {
  const name = [c.name, c.town].filter(Boolean).join(', ');
  const rows = c.fields.map((f) => el('tr', { class: 'cmp ' + f.outcome },
    el('td', {}, f.label), el('td', {}, f.record || '—'), el('td', {}, f.candidate || '—'), el('td', { class: 'words' }, f.words)));
  return el('div', { class: 'candidate', 'data-person': c.person_id },
    el('h3', {}, 'Candidate ', code(c.person_id), name ? ` · ${name}` : '', c.apart ? el('span', { class: 'muted' }, ' (decided: not this person)') : null),
    c.known ? null : el('p', { class: 'muted' }, 'Nothing is known of this person’s values yet.'),
    el('table', { class: 'diff side-by-side' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Field'), el('th', {}, 'This record'), el('th', {}, 'Candidate'), el('th', {}, 'In words'))),
      el('tbody', {}, ...rows)),
    c.summary ? el('p', { class: 'summary' }, c.summary) : null,
    v.can_decide ? el('button', { class: 'btn ok decide-same', type: 'button',
      onclick: () => decide(v, { action: 'same', person_id: c.person_id }, 'the same person as ' + c.person_id) },
    'Same person as ' + (c.name || c.person_id)) : null,
    el('button', { class: 'btn ghost split-open', type: 'button', onclick: (e) => {
      e.target.disabled = true;
      window.splitCard(c.person_id, e.target.parentNode);
    } }, 'This person is two people: split…'));
}

// splitCard lists a person's records to choose those that are another
// person, and splits them off. The person page can call it too.
window.splitCard = async function splitCard(personID, container) {
  const card = el('div', { class: 'card split', 'data-person': personID }, el('h3', {}, 'Split ', code(personID)));
  container.append(card);
  let res;
  try {
    res = await api('/api/persons/' + encodeURIComponent(personID) + '/records');
  } catch (e) { card.append(el('p', { class: 'muted' }, 'The records cannot be shown: ' + e.message)); return; }
  const boxes = res.records.map((r) => {
    const v = r.values || {};
    const cb = el('input', { type: 'checkbox', value: r.record_id, 'aria-label': 'Split off ' + r.record_id });
    return el('label', { class: 'split-record' }, cb, ' ', code(r.record_id), ' ',
      [[v.given_name, v.family_name].filter(Boolean).join(' '), v.email, v.address_line1, v.locality].filter(Boolean).join(' · ') ||
        el('span', { class: 'muted' }, '(no latest values kept)'));
  });
  const go = el('button', { class: 'btn bad', type: 'button', id: 'split-go', onclick: async () => {
    const records = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    if (!records.length) { toast('Choose the records that are another person.', true); return; }
    const why = await ask({ title: 'Split ' + records.length + ' record(s) off ' + personID,
      text: 'They become a new person; both are rebuilt from their own records and the systems are told.',
      input: 'Why', required: true, ok: 'Split', okClass: 'bad' });
    if (why === null) return;
    try {
      const out = await api('/api/persons/' + encodeURIComponent(personID) + '/split', { records, why: why.trim() });
      card.replaceChildren(el('h3', {}, 'Split ', code(personID)), el('div', { class: 'done-box', id: 'split-done' },
        `Records ${out.moved.join(', ')} are now person ${out.new_person_id}; ${out.replayed.length} record(s) replayed.`));
      toast('Split: new person ' + out.new_person_id);
    } catch (e) { toast(e.message, true); }
  } }, 'Split off the chosen records');
  card.append(el('p', { class: 'muted' }, 'Choose the records that belong to another person.'), ...boxes, el('div', { class: 'review-actions' }, go));
};

async function decide(v, body, label) {
  const why = await ask({ title: 'Record: ' + label, text: body.action === 'cannot_tell'
    ? 'Say what is missing to tell; the kick-out stays open with your note.'
    : 'The record is replayed and the matcher follows your decision. Why (optional)?',
  input: 'Why', required: body.action === 'cannot_tell', ok: 'Decide' });
  if (why === null) return;
  try {
    await api('/api/kickouts/' + encodeURIComponent(v.kickout_id) + '/decide', Object.assign({ why: why.trim() }, body));
    toast(body.action === 'cannot_tell' ? 'Left open with your note.' : 'Decided: ' + label + '. The record was replayed.');
    await route();
  } catch (e) { toast(e.message, true); }
}
