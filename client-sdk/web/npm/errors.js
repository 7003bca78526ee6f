/**
 * Every failure of the SDK: an `Error` with a stable `code` (see `ErrorCode` in index.d.ts)
 * and, where they apply, `docId`, `status`, `retryAfter` (seconds) and `detail`.
 */
export class EdgesyncError extends Error {
  constructor(code, message, details = {}) {
    super(message);
    this.name = 'EdgesyncError';
    this.code = code;
    Object.assign(this, details);
  }
}
