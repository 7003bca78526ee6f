//! Logic over the ports: what each endpoint does, independent of HTTP.

pub mod compaction;
pub mod documents;
pub mod load;
pub mod loaded;
pub mod presence;
pub mod provider_keys;
pub mod repo;
pub mod sync;
pub mod tails;
pub mod wait;
