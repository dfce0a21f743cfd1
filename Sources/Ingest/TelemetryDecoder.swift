import FieldwatchCore

/// A metric value as found in a payload, before it is checked against the profile.
public enum MetricValue: Sendable, Equatable {
    case number(Double)
    /// `NaN`, `Infinity`, `-Infinity` or a number too large for a Double.
    case nonFinite(String)
    /// A string, boolean, null, object or list: what it was, for the message.
    case nonNumeric(String)
    /// A list of finite numbers: a block of raw samples (a vibration waveform).
    case block([Double])
}

/// The ingest payload, decoded: `{"ts": <RFC 3339 | epoch ms>, "metrics": {"<sensor>": <number>}}`.
public struct TelemetryPayload: Sendable, Equatable {
    public enum TimestampField: Sendable, Equatable {
        case missing
        case valid(Timestamp)
        /// Present but unusable, with what was wrong.
        case invalid(String)
    }

    public var timestamp: TimestampField
    public var metrics: [(key: String, value: MetricValue)]
    /// Set by `"drill": true`: the message belongs to an emergency drill, not to real operation.
    public var drill = false

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.timestamp == rhs.timestamp && lhs.drill == rhs.drill && lhs.metrics.map(\.key) == rhs.metrics.map(\.key)
            && lhs.metrics.map(\.value) == rhs.metrics.map(\.value)
    }
}

/// Why a payload could not be decoded at all.
public struct PayloadError: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Not JSON.
        case malformedJSON
        /// JSON, but not the contract's shape.
        case invalidPayload
    }

    public var kind: Kind
    public var detail: String
}

/// A strict, allocation-light decoder for the one payload shape the gateway ingests.
///
/// Written by hand rather than with `JSONDecoder` for two reasons: a bad metric must reject
/// only that metric (a generic decoder fails the whole message), and the `NaN`/`Infinity`
/// tokens some encoders emit (Python's `json.dumps`) must be recognised to be refused with a
/// precise reason. Unknown top-level keys are skipped. Nesting is bounded, so no input can
/// exhaust the stack.
public enum TelemetryDecoder {
    static let maxDepth = 32
    /// Most samples one block (waveform) may carry: 64 Ki, a second of vibration at 64 kHz.
    public static let maxBlock = 65_536
    /// Timestamps before this are not plausible telemetry (2000-01-01T00:00:00Z).
    static let earliestMilliseconds: Int64 = 946_684_800_000

    public static func decode(_ bytes: [UInt8]) -> Result<TelemetryPayload, PayloadError> {
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = Scanner(bytes: buffer)
            do throws(PayloadError) {
                return .success(try scanner.payload())
            } catch {
                return .failure(error)
            }
        }
    }

    /// Converts epoch milliseconds (as a JSON number) into a timestamp, or says why not.
    static func timestamp(fromEpochMilliseconds value: Double) -> TelemetryPayload.TimestampField {
        guard value.isFinite, value == value.rounded(.down) else {
            return .invalid("\"ts\" must be whole Unix epoch milliseconds or an RFC 3339 string, found \(value)")
        }
        guard value >= Double(earliestMilliseconds), value < 1e15 else {
            if value >= 946_684_800 && value < 1e11 {
                return .invalid("\"ts\" \(Int64(value)) looks like Unix seconds; send milliseconds (\(Int64(value))000) or an RFC 3339 string")
            }
            return .invalid("\"ts\" \(Int64(exactly: value).map(String.init) ?? "\(value)") is not a plausible time (before 2000 or absurdly far ahead); send Unix epoch milliseconds")
        }
        return .valid(Timestamp(milliseconds: Int64(value)))
    }
}

private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func fail(_ detail: String) -> PayloadError { failAt(i, detail) }
    func failAt(_ offset: Int, _ detail: String) -> PayloadError { PayloadError(kind: .malformedJSON, detail: "at byte \(offset): \(detail)") }

    mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    var current: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func expect(_ byte: UInt8, _ what: String) throws(PayloadError) {
        skipWhitespace()
        guard current == byte else { throw fail(current == nil ? "unexpected end, expected \(what)" : "expected \(what)") }
        i += 1
    }

    mutating func payload() throws(PayloadError) -> TelemetryPayload {
        skipWhitespace()
        guard current == UInt8(ascii: "{") else {
            if bytes.isEmpty { throw fail("empty payload; send a JSON object {\"ts\": ..., \"metrics\": {...}}") }
            throw fail("the payload must be a JSON object {\"ts\": ..., \"metrics\": {...}}")
        }
        i += 1
        var timestamp = TelemetryPayload.TimestampField.missing
        var metrics: [(key: String, value: MetricValue)]?
        var drill = false
        var first = true
        while true {
            skipWhitespace()
            if current == UInt8(ascii: "}") { i += 1; break }
            if !first { try expect(UInt8(ascii: ","), "',' or '}' in object") ; skipWhitespace() }
            first = false
            let key = try string()
            try expect(UInt8(ascii: ":"), "':' after object key")
            skipWhitespace()
            switch key {
            case "ts":
                timestamp = try timestampValue()
            case "drill":
                if matches("true") {
                    i += 4
                    drill = true
                } else if matches("false") {
                    i += 5
                } else {
                    let kind = try describeAndSkip()
                    throw PayloadError(kind: .invalidPayload, detail: "\"drill\" must be true or false, found \(kind)")
                }
            case "metrics":
                guard current == UInt8(ascii: "{") else {
                    let kind = try describeAndSkip()
                    throw PayloadError(kind: .invalidPayload, detail: "\"metrics\" must be an object of sensor: number, found \(kind)")
                }
                metrics = try metricsObject()
            default:
                _ = try describeAndSkip()
            }
        }
        skipWhitespace()
        guard i == bytes.count else { throw fail("unexpected content after the JSON object") }
        guard let metrics else {
            throw PayloadError(kind: .invalidPayload, detail: "no \"metrics\" object; send {\"ts\": ..., \"metrics\": {\"<sensor>\": <number>}}")
        }
        return TelemetryPayload(timestamp: timestamp, metrics: metrics, drill: drill)
    }

    mutating func timestampValue() throws(PayloadError) -> TelemetryPayload.TimestampField {
        switch current ?? 0 {
        case UInt8(ascii: "\""):
            let text = try string()
            guard let t = Timestamp(rfc3339: text) else {
                return .invalid("\"ts\" \"\(text.prefix(40))\" is not an RFC 3339 date-time such as 2026-11-27T10:53:30Z")
            }
            guard t.milliseconds >= TelemetryDecoder.earliestMilliseconds else {
                return .invalid("\"ts\" \(text) is before 2000; check the device clock")
            }
            return .valid(t)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            switch try number() {
            case let .number(v): return TelemetryDecoder.timestamp(fromEpochMilliseconds: v)
            case let .nonFinite(t), let .nonNumeric(t): return .invalid("\"ts\" \(t) is not a time")
            case .block: return .invalid("\"ts\" is a list, not a time")
            }
        case UInt8(ascii: "n") where matches("null"):
            i += 4
            return .missing
        default:
            let kind = try describeAndSkip()
            return .invalid("\"ts\" must be an RFC 3339 string or Unix epoch milliseconds, found \(kind)")
        }
    }

    mutating func metricsObject() throws(PayloadError) -> [(key: String, value: MetricValue)] {
        i += 1  // {
        var result: [(key: String, value: MetricValue)] = []
        var first = true
        while true {
            skipWhitespace()
            if current == UInt8(ascii: "}") { i += 1; return result }
            if !first { try expect(UInt8(ascii: ","), "',' or '}' in \"metrics\""); skipWhitespace() }
            first = false
            let key = try string()
            try expect(UInt8(ascii: ":"), "':' after metric name")
            skipWhitespace()
            switch current ?? 0 {
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "N"), UInt8(ascii: "I"):
                result.append((key, try number()))
            case UInt8(ascii: "["):
                result.append((key, try block()))
            default:
                result.append((key, .nonNumeric(try describeAndSkip())))
            }
        }
    }

    /// A list: a block of finite numbers, or (anything else in it, or too long) described for the message.
    mutating func block() throws(PayloadError) -> MetricValue {
        let start = i
        i += 1  // [
        var values: [Double] = []
        var first = true
        while true {
            skipWhitespace()
            if current == UInt8(ascii: "]") { i += 1; return .block(values) }
            if !first { try expect(UInt8(ascii: ","), "',' or ']' in a list"); skipWhitespace() }
            first = false
            guard values.count < TelemetryDecoder.maxBlock, let c = current,
                  c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39), case let .number(v) = try number()
            else {
                let count = values.count
                i = start
                let skipped = try describeAndSkip()
                return .nonNumeric(count >= TelemetryDecoder.maxBlock
                                   ? "a list of more than \(TelemetryDecoder.maxBlock) values" : "\(skipped) with something other than a finite number at index \(count)")
            }
            values.append(v)
        }
    }

    func matches(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { return false }
        let p = word.utf8Start
        for k in 0..<n where bytes[i + k] != p[k] { return false }
        return true
    }

    /// A JSON number, or the non-standard `NaN` / `Infinity` / `-Infinity` tokens.
    mutating func number() throws(PayloadError) -> MetricValue {
        for token: StaticString in ["NaN", "Infinity", "-Infinity"] where matches(token) {
            i += token.utf8CodeUnitCount
            return .nonFinite(token.description)
        }
        let start = i
        if current == UInt8(ascii: "-") { i += 1 }
        guard let d = current, d >= 0x30, d <= 0x39 else { throw fail("invalid number") }
        if d == 0x30 { i += 1 } else { skipDigits() }
        if current == UInt8(ascii: ".") {
            i += 1
            guard let d = current, d >= 0x30, d <= 0x39 else { throw fail("invalid number: digits expected after '.'") }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            i += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { i += 1 }
            guard let d = current, d >= 0x30, d <= 0x39 else { throw fail("invalid number: digits expected in exponent") }
            skipDigits()
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let value = Double(text) else { throw fail("invalid number \(text)") }
        return value.isFinite ? .number(value) : .nonFinite(text)
    }

    mutating func skipDigits() {
        while let d = current, d >= 0x30, d <= 0x39 { i += 1 }
    }

    /// A JSON string (the scanner is on its opening quote).
    mutating func string() throws(PayloadError) -> String {
        guard current == UInt8(ascii: "\"") else { throw fail(current == nil ? "unexpected end, expected a string" : "expected a string in double quotes") }
        i += 1
        let start = i
        var ascii = true
        // Fast path: no escapes.
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") {
            guard bytes[i] >= 0x20 else { throw fail("control character in string; escape it") }
            if bytes[i] >= 0x80 { ascii = false }
            i += 1
        }
        guard i < bytes.count else { throw fail("unterminated string") }
        if bytes[i] == UInt8(ascii: "\"") {
            defer { i += 1 }
            return try text(UnsafeBufferPointer(rebasing: bytes[start..<i]), ascii: ascii, at: start)
        }
        var scalars = Array(bytes[start..<i])
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let c = bytes[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                let utf8 = scalars
                guard let s = String(validating: utf8, as: UTF8.self) else { throw invalidUTF8(at: start) }
                return s
            case UInt8(ascii: "\\"):
                guard let e = current else { throw fail("unterminated escape") }
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(e)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    let escape = i - 2
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), matches("\\u") {
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw failAt(escape, "\\u escape of a high surrogate not followed by a low one") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    // A lone surrogate stands for no character (Foundation's JSON reader refuses it too).
                    guard let scalar = Unicode.Scalar(code) else { throw failAt(escape, "\\u escape of a lone surrogate (\\u\(String(code, radix: 16)))") }
                    scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw fail("invalid escape \\\(Character(Unicode.Scalar(e)))")
                }
            default:
                guard c >= 0x20 else { throw fail("control character in string; escape it") }
                scalars.append(c)
            }
        }
    }

    /// The bytes of a string as text. JSON is UTF-8: a name in another encoding (Latin-1, GBK)
    /// is refused here, where the byte offset can be named, rather than becoming an unknown
    /// sensor full of replacement characters.
    func text(_ utf8: UnsafeBufferPointer<UInt8>, ascii: Bool, at start: Int) throws(PayloadError) -> String {
        if ascii { return String(decoding: utf8, as: UTF8.self) }
        guard let s = String(validating: utf8, as: UTF8.self) else { throw invalidUTF8(at: start) }
        return s
    }

    func invalidUTF8(at start: Int) -> PayloadError {
        PayloadError(kind: .malformedJSON, detail: "at byte \(start): a string that is not valid UTF-8; JSON text must be UTF-8 (check the device's character encoding)")
    }

    mutating func hex4() throws(PayloadError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid hex digit in \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Skips any JSON value and says what it was ("a string", "an object", ...).
    mutating func describeAndSkip(depth: Int = 0) throws(PayloadError) -> String {
        guard depth < TelemetryDecoder.maxDepth else { throw fail("nesting deeper than \(TelemetryDecoder.maxDepth) levels") }
        skipWhitespace()
        guard let c = current else { throw fail("unexpected end, expected a value") }
        switch c {
        case UInt8(ascii: "\""):
            let s = try string()
            return "the string \"\(s.prefix(24))\""
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            i += 1
            var first = true
            while true {
                skipWhitespace()
                if current == close { i += 1; break }
                if !first { try expect(UInt8(ascii: ","), "',' between elements"); skipWhitespace() }
                first = false
                if c == UInt8(ascii: "{") {
                    _ = try string()
                    try expect(UInt8(ascii: ":"), "':' after object key")
                }
                _ = try describeAndSkip(depth: depth + 1)
            }
            return c == UInt8(ascii: "{") ? "an object" : "a list"
        case UInt8(ascii: "t") where matches("true"): i += 4; return "the boolean true"
        case UInt8(ascii: "f") where matches("false"): i += 5; return "the boolean false"
        case UInt8(ascii: "n") where matches("null"): i += 4; return "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "N"), UInt8(ascii: "I"):
            switch try number() {
            case let .number(v): return "the number \(v)"
            case let .nonFinite(t), let .nonNumeric(t): return t
            case let .block(values): return "a list of \(values.count) numbers"
            }
        default:
            throw fail("unexpected character '\(Character(Unicode.Scalar(c)))'")
        }
    }
}
