// A React counter on `useDocument` (edgesync-web/react), no JSX: two browsers open the same
// document and each sees the other's clicks.
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';
import { Client } from 'edgesync-web';
import { useDocument } from 'edgesync-web/react';

function Counter({ client, id }) {
  const { doc, value, error } = useDocument(client, id);
  if (error) return h('p', { id: 'error' }, error.code);
  if (!doc) return h('p', { id: 'opening' }, 'Opening…');
  const count = value.count ?? 0;
  return h('div', null,
    h('p', { id: 'count' }, String(count)),
    h('button', { id: 'increment', onClick: () => doc.put(['count'], count + 1) }, '+1'));
}

async function start() {
  const params = new URLSearchParams(location.search);
  const client = await Client.open({ url: params.get('api'), dbName: params.get('db'), getToken: async () => params.get('token') });
  let id = params.get('doc');
  if (!id) {
    const doc = await client.createDocument('Counter');
    await doc.put(['count'], 0);
    await client.syncNow();
    id = doc.id;
  }
  window.docId = id;
  createRoot(document.getElementById('root')).render(h(Counter, { client, id }));
}

start().catch((e) => { window.failed = String(e); });
