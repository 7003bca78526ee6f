//! TypeScript declarations of the plain objects the API takes and returns; wasm-bindgen adds
//! them to the generated `.d.ts` next to the classes.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** A location in a document: map keys (strings) and list indices (numbers) from the root. */
export type Path = string | ReadonlyArray<string | number>;

/** `"idle"` before the first sync; `"offline"` when the server could not be reached. */
export type SyncStatus = "idle" | "syncing" | "synced" | "offline" | "error";

/** Stable codes of `EdgesyncError`. */
export type ErrorCode =
  | "offline" | "unauthorized" | "token" | "rateLimited" | "serverUnavailable" | "rejected" | "badResponse"
  | "forbidden" | "notFound" | "idTaken" | "createRejected" | "invalidChanges" | "tooLarge" | "unavailable"
  | "badServerData" | "requestFailed"
  | "storeUnavailable" | "storeInUse" | "storeCorrupt" | "storeNewerSchema" | "corruptDocument"
  | "invalidConfig" | "invalidId" | "unknownDocument" | "alreadyExists" | "invalidTitle" | "noRandomness"
  | "invalidChange" | "invalidPath" | "invalidValue" | "notDurable" | "closed";

export interface BackgroundSyncOptions {
  /** Sync at least this often (default 30 000). */
  intervalMs?: number;
  /** After a local change, wait this long for more before syncing (default 25). */
  debounceMs?: number;
  /** First retry delay after a failure (default 500), doubling up to `maxBackoffMs` (60 000). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Live updates: the longest waiting sync where the server has no sockets (default 25 000; 0 turns live updates off). */
  liveMs?: number;
  /** The interval while a live socket watches every document (default 300 000). */
  liveIntervalMs?: number;
}

export interface ClientOptions {
  /** The edge API, e.g. `https://sync.example.com`. */
  url: string;
  /** The IndexedDB database holding this client's documents (one open client per name). */
  dbName: string;
  /** Returns the current bearer token; with `refresh = true`, a new one (after a 401). */
  getToken: (refresh: boolean) => string | Promise<string>;
  /** `true` (default), `false` (sync only with `syncNow()`), or tuning. */
  backgroundSync?: boolean | BackgroundSyncOptions;
}

export interface SyncReport {
  /** Request rounds sent. */
  rounds: number;
  /** Documents that synced. */
  synced: number;
  /** Local changes the server still lacks. */
  pending: number;
  /** Documents that did not sync, by id; their local edits are kept. */
  errors: Record<string, EdgesyncError>;
}

export interface DocumentInfo {
  id: string;
  title: string;
  /** `"local"`: created on this device; `"remote"`: opened by id. */
  origin: "local" | "remote";
  /** The server is known to have the document. */
  registered: boolean;
  heads: string[];
  pendingChanges: number;
  syncError?: EdgesyncError;
}

/** A document the user is a member of, as the server lists it (`sharedDocuments()`). */
export interface SharedDocument {
  id: string;
  title: string;
  /** The owner's user id. */
  owner: string;
  /** The user's role. */
  role: "owner" | "editor" | "viewer";
  /** Milliseconds since the Unix epoch. */
  createdAt: number;
  updatedAt: number;
}

export type ClientEvent =
  | { type: "documentAdded"; docId: string }
  | { type: "changed"; docId: string; origin: "local" | "remote"; heads: string[]; patches: Patch[] }
  | { type: "syncFailed"; docId: string; error: EdgesyncError }
  | { type: "status"; status: SyncStatus; pending: number; message?: string };

/**
 * What a remote change did, as automerge's JavaScript package renders patches (empty for
 * local changes): `path` is keys and indexes from the root; an object value is rendered
 * empty (`{}`, `[]`, `""`) and filled by further patches.
 */
export type Patch =
  | { action: "put"; path: (string | number)[]; value: unknown; conflict?: true }
  | { action: "insert"; path: (string | number)[]; values: unknown[] }
  | { action: "splice"; path: (string | number)[]; value: string }
  | { action: "del"; path: (string | number)[]; length?: number }
  | { action: "inc"; path: (string | number)[]; value: number }
  | { action: "conflict"; path: (string | number)[] }
  | { action: "mark"; path: (string | number)[]; marks: { name: string; value: unknown; start: number; end: number }[] };

/** Another client's presence message (`client.onPresence`); never stored. */
export interface Presence {
  docId: string;
  /** The sender's user id, as the server read it from the sender's token. */
  from: string;
  data: unknown;
}

/** Every failure: an `Error` with a stable `code` (the class is exported by the package entry). */
export interface EdgesyncError extends Error {
  readonly name: "EdgesyncError";
  readonly code: ErrorCode;
  /** The document concerned, for per-document failures. */
  readonly docId?: string;
  /** The HTTP status, where one was received. */
  readonly status?: number;
  /** Seconds the server asked to wait (429, 503). */
  readonly retryAfter?: number;
  /** The server's problem detail, where it sent one. */
  readonly detail?: string;
}
"#;
