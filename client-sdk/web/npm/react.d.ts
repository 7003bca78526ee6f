// Types of `edgesync-web/react` (React bindings; React is an optional peer dependency).
import type { Client, Document, EdgesyncError } from './index.js';

export interface DocumentState<T = Record<string, unknown>> {
  /** The open document; `null` until it is open (or when opening failed). */
  doc: Document | null;
  /** Its content (`doc.toJSON()`): a new object after each change, the same one in between. */
  value: T | undefined;
  /** Why opening the document failed, else `null`. */
  error: EdgesyncError | null;
}

/**
 * The document `id` of `client` and its content, re-rendered after every change to it, local
 * or remote. Pass `null` for either while it is not known yet.
 */
export declare function useDocument<T = Record<string, unknown>>(client: Client | null | undefined, id: string | null | undefined): DocumentState<T>;
