//! Column specs (which column is which) and which columns automerge decodes, per chunk kind.

/// Column specs: `(column id << 4) | (deflate << 3) | type`, with type
/// 0 group, 1 actor, 2 uLEB integer, 3 delta (sLEB), 4 boolean, 5 string, 6 value metadata,
/// 7 raw value.
// Change-chunk op columns (`storage/change/change_op_columns.rs:29-36`, `:291-367`) and
// document op columns (`op_set2/columns.rs:614-642`) share most numbers.
pub(super) const OBJ_ACTOR: u32 = 1; // id 0, actor
pub(super) const OBJ_CTR: u32 = 2; // id 0, integer
pub(super) const KEY_ACTOR: u32 = 17; // id 1, actor
pub(super) const KEY_CTR: u32 = 19; // id 1, delta
pub(super) const KEY_STR: u32 = 21; // id 1, string
pub(super) const ID_ACTOR: u32 = 33; // id 2, actor   (documents only; defines the op count)
pub(super) const ID_CTR: u32 = 35; // id 2, delta   (documents only)
pub(super) const INSERT: u32 = 52; // id 3, boolean
pub(super) const ACTION: u32 = 66; // id 4, integer (defines the op count of a change chunk)
pub(super) const VALUE_META: u32 = 86; // id 5, value metadata
pub(super) const VALUE_RAW: u32 = 87; // id 5, raw value
pub(super) const PRED_GROUP: u32 = 112; // id 7, group   (change chunks)
pub(super) const PRED_ACTOR: u32 = 113; // id 7, actor
pub(super) const PRED_CTR: u32 = 115; // id 7, delta
pub(super) const SUCC_GROUP: u32 = 128; // id 8, group   (documents)
pub(super) const SUCC_ACTOR: u32 = 129; // id 8, actor
pub(super) const SUCC_CTR: u32 = 131; // id 8, delta
pub(super) const EXPAND: u32 = 148; // id 9, boolean
pub(super) const MARK_NAME: u32 = 165; // id 10, string

// Document change-metadata columns (`change_graph.rs:1781-1797`).
pub(super) const CHG_ACTOR: u32 = 1; // id 0, actor  (defines the change count)
pub(super) const CHG_SEQ: u32 = 3; // id 0, delta
pub(super) const CHG_MAX_OP: u32 = 19; // id 1, delta
pub(super) const CHG_TIME: u32 = 35; // id 2, delta
pub(super) const CHG_MESSAGE: u32 = 53; // id 3, string
pub(super) const CHG_DEPS_COUNT: u32 = 64; // id 4, group
pub(super) const CHG_DEPS_VAL: u32 = 67; // id 4, delta
pub(super) const CHG_EXTRA_META: u32 = 86; // id 5, value metadata
pub(super) const CHG_EXTRA_RAW: u32 = 87; // id 5, raw value

/// How a column's row count is limited.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Role {
    /// One row per op / per change: limited by the op / change budget.
    Row,
    /// One row per reference: limited by `GROUPED_ITEMS_FACTOR` times the budget.
    Grouped,
    /// Raw bytes, no rows.
    Raw,
}

/// Columns `ChangeOpsColumns::try_from` decodes (`change_op_columns.rs:475-577`). Anything else
/// is ignored by automerge and therefore by us.
pub(super) fn change_chunk_role(s: u32) -> Option<Role> {
    match s {
        OBJ_ACTOR | OBJ_CTR | KEY_ACTOR | KEY_CTR | KEY_STR | INSERT | ACTION | VALUE_META
        | PRED_GROUP | EXPAND | MARK_NAME => Some(Role::Row),
        PRED_ACTOR | PRED_CTR => Some(Role::Grouped),
        VALUE_RAW => Some(Role::Raw),
        _ => None,
    }
}

/// Op columns `op_set2::columns::Columns::validate` keeps (`op_set2/columns.rs:219-250`).
pub(super) fn doc_op_role(s: u32) -> Option<Role> {
    match s {
        OBJ_ACTOR | OBJ_CTR | KEY_ACTOR | KEY_CTR | KEY_STR | ID_ACTOR | ID_CTR | INSERT
        | ACTION | VALUE_META | SUCC_GROUP | EXPAND | MARK_NAME => Some(Role::Row),
        SUCC_ACTOR | SUCC_CTR => Some(Role::Grouped),
        VALUE_RAW => Some(Role::Raw),
        _ => None,
    }
}

/// Change columns `ChangeGraph::validate` keeps (`change_graph.rs:274-298`).
pub(super) fn doc_change_role(s: u32) -> Option<Role> {
    match s {
        CHG_ACTOR | CHG_SEQ | CHG_MAX_OP | CHG_TIME | CHG_MESSAGE | CHG_DEPS_COUNT
        | CHG_EXTRA_META => Some(Role::Row),
        CHG_DEPS_VAL => Some(Role::Grouped),
        CHG_EXTRA_RAW => Some(Role::Raw),
        _ => None,
    }
}
