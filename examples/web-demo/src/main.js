// A shared to-do list with notes: every edit is stored in IndexedDB first (so it works offline)
// and synced through the edgesync API in the background; collaborators' edits arrive over the
// live channel and are merged by Automerge.
//
// Configuration comes from the page's query string: `api` (the API's URL), `token` (a JWT for
// it), `doc` (a document to open; without it a new list is created) and `db` (the IndexedDB
// database, one per client). Without a token the page asks for one.
import { Client, EdgesyncError } from 'edgesync-web';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

if (!params.get('token')) {
  const form = $('connect');
  form.hidden = false;
  form.api.value = params.get('api') ?? form.api.value;
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    params.set('api', form.api.value.trim());
    params.set('token', form.token.value.trim());
    location.search = params.toString();
  });
} else {
  start().catch(showError);
}

async function start() {
  const token = params.get('token');
  const client = await Client.open({
    url: params.get('api') ?? 'http://127.0.0.1:8787',
    dbName: params.get('db') ?? 'edgesync-demo',
    getToken: async () => token,
  });
  const doc = params.get('doc') ? await client.openDocument(params.get('doc')) : await newList(client);
  params.set('doc', doc.id);
  history.replaceState(null, '', `?${params}`);
  // Shared without the token: each collaborator opens it with their own.
  const share = new URL(location.href);
  share.searchParams.delete('token');
  share.searchParams.delete('db');
  $('share').href = $('share').textContent = share.href;

  const app = { client, doc };
  $('app').hidden = false;
  render(app);
  client.subscribe((e) => {
    if (e.type !== 'changed' || e.docId === doc.id) render(app);
  });
  window.addEventListener('online', () => render(app));
  window.addEventListener('offline', () => render(app));

  $('add').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = e.target.text.value.trim();
    e.target.reset();
    if (!doc.get(['todos'])) return;
    doc.push(['todos'], { text, done: false }).catch(showError);
  });
  $('todos').addEventListener('click', (e) => {
    const item = e.target.closest('li');
    if (!item) return;
    const index = Number(item.dataset.index);
    if (e.target.matches('button')) doc.delete(['todos', index]).catch(showError);
    else if (e.target.matches('input')) doc.put(['todos', index, 'done'], e.target.checked).catch(showError);
  });
  let shown = doc.get(['notes']) ?? '';
  $('notes').addEventListener('input', (e) => {
    // Send only what changed, as a splice: concurrent edits elsewhere in the text then merge.
    const now = e.target.value;
    const { index, removed, inserted } = diff(shown, now);
    shown = now;
    doc.spliceText(['notes'], index, removed, inserted).catch(showError);
  });
  app.setNotes = (text) => { shown = text; };
  window.demo = app; // for the end-to-end test and the curious
}

async function newList(client) {
  const doc = await client.createDocument('Shared list');
  await doc.change((d) => {
    d.put(['title'], 'Shared list');
    d.put(['todos'], []);
    d.put(['notes'], '');
  });
  // Push it now, so the share link works at once (offline, the background loop pushes it later).
  await client.syncNow().catch(() => {});
  return doc;
}

function render({ client, doc, setNotes }) {
  const data = doc.toJSON();
  $('title').textContent = data.title ?? 'Loading…';
  const list = $('todos');
  list.replaceChildren(...(data.todos ?? []).map((todo, index) => {
    const li = document.createElement('li');
    li.dataset.index = index;
    li.className = todo.done ? 'done' : '';
    const box = Object.assign(document.createElement('input'), { type: 'checkbox', checked: !!todo.done });
    const text = Object.assign(document.createElement('span'), { textContent: todo.text });
    const remove = Object.assign(document.createElement('button'), { textContent: '✕', title: 'Delete' });
    li.append(box, text, remove);
    return li;
  }));
  const notes = $('notes');
  const text = data.notes ?? '';
  if (notes.value !== text) {
    // Keep the caret where it was (as far as the text before it allows).
    const caret = notes.selectionStart;
    notes.value = text;
    setNotes?.(text);
    if (document.activeElement === notes) notes.setSelectionRange(caret, caret);
  }
  const online = navigator.onLine;
  const status = $('status');
  status.className = online ? '' : 'offline';
  const pending = client.pendingChanges;
  status.textContent = `${online ? client.status : 'offline'} · ${pending} unsent change${pending === 1 ? '' : 's'} · live: ${client.liveMode}`;
}

/** The one splice that turns `before` into `after`: common prefix and suffix kept. */
export function diff(before, after) {
  const a = [...before];
  const b = [...after];
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let end = 0;
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end++;
  // Compared by code point (a surrogate pair is never split); spliceText counts UTF-16 code
  // units, like JS strings.
  const index = a.slice(0, start).join('').length;
  return { index, removed: a.slice(start, a.length - end).join('').length, inserted: b.slice(start, b.length - end).join('') };
}

function showError(e) {
  const message = e instanceof EdgesyncError ? `${e.code}: ${e.message}` : String(e);
  const status = $('status');
  status.textContent = message;
  status.className = 'offline';
  console.error(e);
}
