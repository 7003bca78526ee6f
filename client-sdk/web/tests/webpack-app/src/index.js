// Opens a client and creates a document, as any app would.
import { Client, EdgesyncError } from 'edgesync-web';

const params = new URLSearchParams(location.search);
Client.open({ url: params.get('api'), dbName: 'webpack-app', getToken: async () => params.get('token') })
  .then(async (client) => {
    const doc = await client.createDocument('From webpack');
    await doc.put(['bundler'], 'webpack');
    await client.syncNow();
    window.result = { ok: true, id: doc.id };
  })
  .catch((e) => {
    window.result = { ok: false, error: e instanceof EdgesyncError ? e.code : String(e) };
  });
