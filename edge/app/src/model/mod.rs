//! Domain types shared by services and the HTTP layer.

pub mod dto;
pub mod role;

pub use role::Role;
