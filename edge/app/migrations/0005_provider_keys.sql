-- An identity provider's JSON Web Key Set (JWT_JWKS_URL) as last fetched, shared by every edge
-- so that a new instance (a Spin request, a fresh Worker isolate) does not fetch it again, and
-- the times that bound how often any edge may fetch it (service/provider_keys.rs).
CREATE TABLE IF NOT EXISTS provider_keys (
    url TEXT PRIMARY KEY,
    -- The last document fetched with status 200 that held a usable key ('' before that).
    document TEXT NOT NULL DEFAULT '',
    fetched_at INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL DEFAULT 0,
    -- When an edge last took the turn to fetch (see claim_provider_keys_refresh).
    attempted_at INTEGER NOT NULL DEFAULT 0,
    -- When a fetch last failed (0 after a success).
    failed_at INTEGER NOT NULL DEFAULT 0
);
