//! [`Message`] to and from CBOR (see the module docs of `automerge_repo`).

use minicbor::data::{Tag, Type};
use minicbor::{Decoder, Encoder};

use super::{Message, PeerMetadata};

/// Why a frame is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed CBOR: {0}")]
    Cbor(String),
    #[error("the message is not one CBOR map (bytes follow it)")]
    TrailingBytes,
    #[error("the message has no type")]
    NoType,
    #[error("a {kind} message needs {field}")]
    Missing { kind: &'static str, field: &'static str },
    #[error("{0} must be a non-negative integer")]
    NotCount(&'static str),
    #[error("{field} of a {kind} message is not of its type: {reason}")]
    Field { kind: &'static str, field: String, reason: String },
    #[error("more than {MAX_VERSIONS} protocol versions")]
    TooManyVersions,
}

/// At most this many `supportedProtocolVersions` (automerge-repo sends one): a list of empty
/// strings would otherwise cost 24 bytes of memory per byte of frame.
const MAX_VERSIONS: usize = 16;

impl From<minicbor::decode::Error> for DecodeError {
    fn from(e: minicbor::decode::Error) -> Self {
        DecodeError::Cbor(e.to_string())
    }
}

/// The fields of any message, as read.
#[derive(Default)]
struct Fields {
    kind: Option<String>,
    sender_id: Option<String>,
    target_id: Option<String>,
    document_id: Option<String>,
    data: Option<Vec<u8>>,
    count: Option<u64>,
    session_id: Option<String>,
    message: Option<String>,
    peer_metadata: Option<PeerMetadata>,
    supported: Option<Vec<String>>,
    selected: Option<String>,
    /// The first field whose value was not of its type, and why: an error for the types this
    /// side knows, nothing for the others (which may use the same keys differently).
    bad: Option<(String, DecodeError)>,
}

pub(super) fn decode(frame: &[u8]) -> Result<Message, DecodeError> {
    let mut d = Decoder::new(frame);
    let mut f = Fields::default();
    for_each_entry(&mut d, |d, key| {
        let at = d.position();
        if let Err(e) = field(d, key, &mut f) {
            // A value of another type is skipped and noted; malformed CBOR fails the skip.
            d.set_position(at);
            d.skip()?;
            f.bad.get_or_insert((key.to_owned(), e));
        }
        Ok(())
    })?;
    if d.position() != frame.len() {
        return Err(DecodeError::TrailingBytes);
    }
    build(f)
}

/// Reads the value of the field `key` into `f`.
fn field(d: &mut Decoder<'_>, key: &str, f: &mut Fields) -> Result<(), DecodeError> {
    match key {
        "type" => f.kind = text(d)?,
        "senderId" => f.sender_id = text(d)?,
        "targetId" => f.target_id = text(d)?,
        "documentId" => f.document_id = text(d)?,
        "data" => f.data = bytes(d)?,
        "count" => f.count = count(d, "count")?,
        "sessionId" => f.session_id = text(d)?,
        "message" => f.message = text(d)?,
        "peerMetadata" => f.peer_metadata = metadata(d)?,
        "supportedProtocolVersions" => f.supported = texts(d)?,
        "selectedProtocolVersion" => f.selected = text(d)?,
        _ => d.skip()?,
    }
    Ok(())
}

fn build(f: Fields) -> Result<Message, DecodeError> {
    let kind = f.kind.ok_or(DecodeError::NoType)?;
    // The message's type as a static name, for errors.
    let name = match kind.as_str() {
        "join" => "join",
        "peer" => "peer",
        "error" => "error",
        "request" => "request",
        "sync" => "sync",
        "doc-unavailable" => "doc-unavailable",
        "ephemeral" => "ephemeral",
        _ => return Ok(Message::Other { kind }),
    };
    if let Some((field, e)) = f.bad {
        return Err(DecodeError::Field { kind: name, field, reason: e.to_string() });
    }
    let need = |v: Option<String>, field| v.ok_or(DecodeError::Missing { kind: name, field });
    let data = |v: Option<Vec<u8>>| v.ok_or(DecodeError::Missing { kind: name, field: "data" });
    Ok(match name {
        "join" => Message::Join {
            sender_id: need(f.sender_id, "senderId")?,
            peer_metadata: f.peer_metadata,
            // automerge-repo's server reads a join without versions as version 1.
            supported_protocol_versions: f.supported.unwrap_or_else(|| vec![super::PROTOCOL_VERSION.to_owned()]),
        },
        "peer" => Message::Peer {
            sender_id: need(f.sender_id, "senderId")?,
            peer_metadata: f.peer_metadata,
            selected_protocol_version: need(f.selected, "selectedProtocolVersion")?,
            target_id: need(f.target_id, "targetId")?,
        },
        "error" => Message::Error { sender_id: f.sender_id, message: f.message.unwrap_or_default(), target_id: f.target_id },
        "request" | "sync" => {
            let (sender_id, target_id) = (need(f.sender_id, "senderId")?, need(f.target_id, "targetId")?);
            let (document_id, data) = (need(f.document_id, "documentId")?, data(f.data)?);
            if name == "request" {
                Message::Request { sender_id, target_id, document_id, data }
            } else {
                Message::Sync { sender_id, target_id, document_id, data }
            }
        }
        "doc-unavailable" => Message::DocUnavailable {
            sender_id: need(f.sender_id, "senderId")?,
            target_id: need(f.target_id, "targetId")?,
            document_id: need(f.document_id, "documentId")?,
        },
        _ => Message::Ephemeral {
            sender_id: need(f.sender_id, "senderId")?,
            target_id: need(f.target_id, "targetId")?,
            count: f.count.ok_or(DecodeError::Missing { kind: name, field: "count" })?,
            session_id: need(f.session_id, "sessionId")?,
            document_id: need(f.document_id, "documentId")?,
            data: data(f.data)?,
        },
    })
}

/// Calls `entry` for each key of the map at `d` (definite or indefinite length); `entry` reads
/// or skips the value. The loop ends at the map's end or the first error, so a declared length
/// larger than the frame costs nothing.
fn for_each_entry(d: &mut Decoder<'_>, mut entry: impl FnMut(&mut Decoder<'_>, &str) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
    let len = d.map()?;
    let mut read = 0u64;
    loop {
        match len {
            Some(n) if read == n => return Ok(()),
            None if d.datatype()? == Type::Break => {
                d.skip()?;
                return Ok(());
            }
            _ => {}
        }
        read += 1;
        let key = d.str()?;
        entry(d, key)?;
    }
}

/// Whether the next value stands for "absent" (`undefined`, which cbor-x writes for a field set
/// to `undefined`, or `null`); consumes it if so.
fn absent(d: &mut Decoder<'_>) -> Result<bool, DecodeError> {
    match d.datatype()? {
        Type::Undefined | Type::Null => {
            d.skip()?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn text(d: &mut Decoder<'_>) -> Result<Option<String>, DecodeError> {
    Ok(if absent(d)? { None } else { Some(d.str()?.to_owned()) })
}

/// A byte string, also inside tag 64 (a typed array, which cbor-x writes with other options).
fn bytes(d: &mut Decoder<'_>) -> Result<Option<Vec<u8>>, DecodeError> {
    if absent(d)? {
        return Ok(None);
    }
    if d.datatype()? == Type::Tag {
        let tag = d.tag()?;
        if tag != Tag::new(64) {
            return Err(DecodeError::Cbor(format!("unexpected tag {tag:?} for data")));
        }
    }
    Ok(Some(d.bytes()?.to_vec()))
}

/// An unsigned integer; cbor-x writes integers above 2³² as 64-bit floats.
fn count(d: &mut Decoder<'_>, field: &'static str) -> Result<Option<u64>, DecodeError> {
    if absent(d)? {
        return Ok(None);
    }
    match d.datatype()? {
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Ok(Some(d.u64()?)),
        Type::F32 | Type::F64 => {
            let x = d.f64()?;
            // Exactly representable integers only (up to 2^53).
            if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= 9_007_199_254_740_992.0 { Ok(Some(x as u64)) } else { Err(DecodeError::NotCount(field)) }
        }
        _ => Err(DecodeError::NotCount(field)),
    }
}

/// An array of strings (definite or indefinite length), read element by element.
fn texts(d: &mut Decoder<'_>) -> Result<Option<Vec<String>>, DecodeError> {
    if absent(d)? {
        return Ok(None);
    }
    let len = d.array()?;
    let mut out = Vec::new();
    loop {
        match len {
            Some(n) if out.len() as u64 == n => return Ok(Some(out)),
            None if d.datatype()? == Type::Break => {
                d.skip()?;
                return Ok(Some(out));
            }
            _ if out.len() == MAX_VERSIONS => return Err(DecodeError::TooManyVersions),
            _ => out.push(d.str()?.to_owned()),
        }
    }
}

fn metadata(d: &mut Decoder<'_>) -> Result<Option<PeerMetadata>, DecodeError> {
    if absent(d)? {
        return Ok(None);
    }
    let mut meta = PeerMetadata::default();
    for_each_entry(d, |d, key| {
        match key {
            "storageId" => meta.storage_id = text(d)?,
            "isEphemeral" if absent(d)? => meta.is_ephemeral = false,
            "isEphemeral" => meta.is_ephemeral = d.bool()?,
            _ => d.skip()?,
        }
        Ok(())
    })?;
    Ok(Some(meta))
}

/// A field's value, for encoding.
enum Value<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
    Count(u64),
    Texts(&'a [String]),
    Metadata(&'a PeerMetadata),
}

pub(super) fn encode(message: &Message) -> Vec<u8> {
    use Value::{Bytes, Count, Metadata, Text, Texts};
    let mut fields: Vec<(&str, Value<'_>)> = Vec::with_capacity(7);
    let kind = match message {
        Message::Join { sender_id, peer_metadata, supported_protocol_versions } => {
            fields.push(("senderId", Text(sender_id)));
            fields.extend(peer_metadata.as_ref().map(|m| ("peerMetadata", Metadata(m))));
            fields.push(("supportedProtocolVersions", Texts(supported_protocol_versions)));
            "join"
        }
        Message::Peer { sender_id, peer_metadata, selected_protocol_version, target_id } => {
            fields.push(("senderId", Text(sender_id)));
            fields.extend(peer_metadata.as_ref().map(|m| ("peerMetadata", Metadata(m))));
            fields.push(("selectedProtocolVersion", Text(selected_protocol_version)));
            fields.push(("targetId", Text(target_id)));
            "peer"
        }
        Message::Error { sender_id, message, target_id } => {
            fields.extend(sender_id.as_deref().map(|s| ("senderId", Text(s))));
            fields.push(("message", Text(message)));
            fields.extend(target_id.as_deref().map(|t| ("targetId", Text(t))));
            "error"
        }
        Message::Request { sender_id, target_id, document_id, data } | Message::Sync { sender_id, target_id, document_id, data } => {
            fields.extend([("senderId", Text(sender_id)), ("targetId", Text(target_id)), ("documentId", Text(document_id)), ("data", Bytes(data))]);
            if matches!(message, Message::Request { .. }) { "request" } else { "sync" }
        }
        Message::DocUnavailable { sender_id, target_id, document_id } => {
            fields.extend([("senderId", Text(sender_id)), ("targetId", Text(target_id)), ("documentId", Text(document_id))]);
            "doc-unavailable"
        }
        Message::Ephemeral { sender_id, target_id, count, session_id, document_id, data } => {
            fields.extend([("senderId", Text(sender_id)), ("targetId", Text(target_id)), ("count", Count(*count))]);
            fields.extend([("sessionId", Text(session_id)), ("documentId", Text(document_id)), ("data", Bytes(data))]);
            "ephemeral"
        }
        Message::Other { kind } => kind.as_str(),
    };
    let mut e = Encoder::new(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = write_map(&mut e, kind, &fields);
    e.into_writer()
}

fn write_map(e: &mut Encoder<Vec<u8>>, kind: &str, fields: &[(&str, Value<'_>)]) -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
    e.map(fields.len() as u64 + 1)?.str("type")?.str(kind)?;
    for (key, value) in fields {
        e.str(key)?;
        match value {
            Value::Text(s) => {
                e.str(s)?;
            }
            Value::Bytes(b) => {
                e.bytes(b)?;
            }
            Value::Count(n) => {
                e.u64(*n)?;
            }
            Value::Texts(list) => {
                e.array(list.len() as u64)?;
                for s in *list {
                    e.str(s)?;
                }
            }
            Value::Metadata(m) => {
                e.map(1 + u64::from(m.storage_id.is_some()))?;
                if let Some(id) = &m.storage_id {
                    e.str("storageId")?.str(id)?;
                }
                e.str("isEphemeral")?.bool(m.is_ephemeral)?;
            }
        }
    }
    Ok(())
}
