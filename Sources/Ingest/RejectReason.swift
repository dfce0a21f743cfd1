/// Why (part of) a message was not ingested. Each reason is counted on its own and the first
/// rejects of each go to the dead-letter file.
public enum RejectReason: String, Sendable, CaseIterable, Codable, Comparable {
    /// The topic is not `fieldwatch/<site>/<device>/telemetry`. Whole message.
    case badTopic = "bad_topic"
    /// The payload is not JSON. Whole message.
    case malformedJSON = "malformed_json"
    /// Not valid CBOR (SenML CBOR) or protobuf (Sparkplug B). Whole message.
    case malformedPayload = "malformed_payload"
    /// JSON (or CBOR, protobuf), but not the format's shape: `{"ts": ..., "metrics": {...}}`,
    /// a SenML list of records, a Sparkplug payload, what a topic mapping expects. Whole message,
    /// or one SenML record.
    case invalidPayload = "invalid_payload"
    /// The device is not in the inventory (or is registered at another site). Whole message.
    case unknownDevice = "unknown_device"
    /// `ts` is present but not a time. Whole message.
    case invalidTimestamp = "invalid_timestamp"
    /// `ts` is more than the allowed skew (24 h) in the future. Whole message.
    case futureTimestamp = "future_timestamp"
    /// The device's profile has no such sensor. That metric only.
    case unknownSensor = "unknown_sensor"
    /// A string, boolean, null, object or list where a number belongs. That metric only.
    case nonNumericValue = "non_numeric_value"
    /// NaN or ±Infinity. That metric only.
    case nonFiniteValue = "non_finite_value"
    /// Outside the sensor's physical valid range (a sensor or wiring fault). That metric only.
    case outOfRange = "out_of_range"
    /// A SenML record's unit is not the unit the profile measures the sensor in. That metric only.
    case unitMismatch = "unit_mismatch"
    /// Older than the ring's late tolerance allows. That metric only.
    case tooLate = "too_late"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
