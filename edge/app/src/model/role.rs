//! Per-document roles.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a member may do with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read only: may pull, may not push changes.
    Viewer,
    /// May read and push changes.
    Editor,
    /// May also manage members and delete the document.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "owner" => Some(Role::Owner),
            _ => None,
        }
    }

    pub fn can_write(self) -> bool {
        self >= Role::Editor
    }
}
