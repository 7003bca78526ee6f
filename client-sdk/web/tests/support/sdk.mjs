// The built package (scripts/build-web.sh) with an in-memory IndexedDB for Node.
import 'fake-indexeddb/auto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './server.mjs';

const entry = join(repoRoot, 'client-sdk/web/pkg/node.js');
if (!existsSync(entry)) throw new Error(`${entry} is missing: run scripts/build-web.sh first`);

export const { Client, Document, ChangeSet, EdgesyncError, init } = await import(entry);
