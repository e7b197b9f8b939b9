//! `/event/LoginEventStream` CometD data messages (reference §6):
//! `{"channel":"/event/LoginEventStream","data":{"schema":…,"payload":{…},"event":{"EventUuid":…,"replayId":7711181}}}`.
//!
//! `event_id` is `payload.EventIdentifier`; timestamps are ISO with `Z` (epoch ms accepted too);
//! geo is inline (`City`, `CountryIso`, `LoginLatitude`, `LoginLongitude`).

use serde::Deserialize;

use super::login_event::{self, RawLoginEvent};
use super::{ParseContext, ParseError, Rec, RecordError, RecordLabel, StreamEvent};
use crate::event::Source;

const SOURCE: Source = Source::LoginEventStream;

/// The CometD channel login events arrive on.
pub const CHANNEL: &str = "/event/LoginEventStream";

fn parse(message: &serde_json::Value, ctx: &ParseContext) -> Result<StreamEvent, ParseError> {
    let rec = Rec {
        source: SOURCE,
        label: RecordLabel::Message,
    };
    if !message.is_object() {
        return Err(rec.err(
            "(message)",
            "",
            "is not a JSON object (expected a CometD data message)",
        ));
    }
    let data = message
        .get("data")
        .filter(|d| !d.is_null())
        .ok_or_else(|| rec.missing("data"))?;
    let payload = data
        .get("payload")
        .filter(|p| !p.is_null())
        .ok_or_else(|| rec.missing("data.payload"))?;
    let raw = RawLoginEvent::deserialize(payload).map_err(|e| {
        rec.err(
            "data.payload",
            "",
            format!("is not a LoginEventStream payload: {e}"),
        )
    })?;
    let label = match raw.event_identifier() {
        Some(id) => RecordLabel::Field("EventIdentifier", id),
        None => RecordLabel::Message,
    };
    let rec = Rec {
        source: SOURCE,
        label,
    };
    let replay = data
        .get("event")
        .and_then(|e| e.get("replayId"))
        .filter(|r| !r.is_null())
        .ok_or_else(|| rec.missing("data.event.replayId"))?;
    let replay_id = match replay {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        rec.err(
            "data.event.replayId",
            &replay.to_string(),
            "is not an integer replay id",
        )
    })?;
    let event = login_event::convert(&raw, SOURCE, RecordLabel::Message, "data.payload.", ctx)?;
    Ok(StreamEvent { event, replay_id })
}

/// Parses one CometD data message from `/event/LoginEventStream`.
// The error carries the raw record for the dead-letter topic; failures are rare, so its size
// on the error path does not matter and the shape stays the documented contract.
#[allow(clippy::result_large_err)]
pub fn parse_message(
    message: &serde_json::Value,
    ctx: &ParseContext,
) -> Result<StreamEvent, RecordError> {
    parse(message, ctx).map_err(|error| RecordError {
        error,
        raw: message.to_string(),
    })
}
