// One open client per IndexedDB database, as the native SDK's lock file ensures for its store:
// two engines on one database would overwrite each other's records and snapshots.
// Browsers: an exclusive Web Lock (across tabs and workers of the origin), held until release.
// Elsewhere (Node): a registry in this module (one process holds one IndexedDB anyway).

const held = new Set();

/** Resolves to a release function, or to null when another client holds `name`. */
export async function acquireLock(name) {
  const key = `edgesync:${name}`;
  const locks = globalThis.navigator?.locks;
  if (!locks) {
    if (held.has(key)) return null;
    held.add(key);
    return () => { held.delete(key); };
  }
  let release;
  const holding = new Promise((resolve) => { release = resolve; });
  const granted = await new Promise((resolve, reject) => {
    locks.request(key, { ifAvailable: true }, (lock) => {
      resolve(lock !== null);
      return lock === null ? undefined : holding;
    }).catch(reject);
  });
  return granted ? () => release() : null;
}
