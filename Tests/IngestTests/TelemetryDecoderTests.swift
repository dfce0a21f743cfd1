import FieldwatchCore
import Testing
@testable import Ingest

func decode(_ text: String) -> Result<TelemetryPayload, PayloadError> { TelemetryDecoder.decode(Array(text.utf8)) }

@Suite("TelemetryDecoder")
struct TelemetryDecoderTests {
    @Test func epochMillisecondsAndNumbers() throws {
        let p = try decode(#"{"ts": 1764240810123, "metrics": {"a": 1, "b": -2.5e1, "c": 0.001}}"#).get()
        #expect(p.timestamp == .valid(Timestamp(milliseconds: 1_764_240_810_123)))
        #expect(p.metrics.map(\.key) == ["a", "b", "c"])
        #expect(p.metrics.map(\.value) == [.number(1), .number(-25), .number(0.001)])
    }

    @Test(arguments: [
        ("2025-11-27T10:53:30Z", 1_764_240_810_000),
        ("2025-11-27T10:53:30.123Z", 1_764_240_810_123),
        ("2025-11-27T18:53:30.5+08:00", 1_764_240_810_500),
        ("2025-11-27 10:53:30z", 1_764_240_810_000),
        ("2024-02-29T00:00:00-01:30", 1_709_170_200_000),
    ] as [(String, Int64)])
    func rfc3339(_ text: String, _ ms: Int64) throws {
        let p = try decode(#"{"ts": "\#(text)", "metrics": {"a": 1}}"#).get()
        #expect(p.timestamp == .valid(Timestamp(milliseconds: ms)))
    }

    @Test func timestampRoundTrip() {
        let t = Timestamp(milliseconds: 1_764_240_810_123)
        #expect(t.rfc3339 == "2025-11-27T10:53:30.123Z")
        #expect(Timestamp(rfc3339: t.rfc3339) == t)
        #expect(Timestamp(milliseconds: -1).rfc3339 == "1969-12-31T23:59:59.999Z")
    }

    @Test func missingTimestampIsMissing() throws {
        #expect(try decode(#"{"metrics": {"a": 1}}"#).get().timestamp == .missing)
        #expect(try decode(#"{"ts": null, "metrics": {"a": 1}}"#).get().timestamp == .missing)
    }

    @Test(arguments: [
        (#""2025-02-30T00:00:00Z""#, #""ts" "2025-02-30T00:00:00Z" is not an RFC 3339 date-time such as 2026-11-27T10:53:30Z"#),
        (#""yesterday""#, #""ts" "yesterday" is not an RFC 3339 date-time such as 2026-11-27T10:53:30Z"#),
        ("1764240810", #""ts" 1764240810 looks like Unix seconds; send milliseconds (1764240810000) or an RFC 3339 string"#),
        ("5", #""ts" 5 is not a plausible time (before 2000 or absurdly far ahead); send Unix epoch milliseconds"#),
        ("1764240810123.5", #""ts" must be whole Unix epoch milliseconds or an RFC 3339 string, found 1764240810123.5"#),
        ("true", #""ts" must be an RFC 3339 string or Unix epoch milliseconds, found the boolean true"#),
        (#""1999-12-31T23:59:59Z""#, #""ts" 1999-12-31T23:59:59Z is before 2000; check the device clock"#),
    ])
    func invalidTimestamps(_ ts: String, _ message: String) throws {
        #expect(try decode(#"{"ts": \#(ts), "metrics": {"a": 1}}"#).get().timestamp == .invalid(message))
    }

    @Test func perMetricValueKinds() throws {
        let p = try decode(#"{"metrics": {"a": "12", "b": null, "c": true, "d": NaN, "e": Infinity, "f": -Infinity, "g": 1e999, "h": [1], "i": {"x": 1}, "j": 3}}"#).get()
        #expect(p.metrics.map(\.value) == [
            .nonNumeric("the string \"12\""), .nonNumeric("null"), .nonNumeric("the boolean true"), .nonFinite("NaN"),
            .nonFinite("Infinity"), .nonFinite("-Infinity"), .nonFinite("1e999"), .block([1]), .nonNumeric("an object"),
            .number(3),
        ])
    }

    @Test func escapesAndUnknownKeys() throws {
        let p = try decode(#"{"site": {"deep": [1, 2, {"x": null}]}, "metrics": {"b\u00e4r\n\"": 1}, "extra": "x"}"#).get()
        #expect(p.metrics.first?.key == "bär\n\"")
    }

    @Test(arguments: [
        ("", PayloadError(kind: .malformedJSON, detail: "at byte 0: empty payload; send a JSON object {\"ts\": ..., \"metrics\": {...}}")),
        ("[1]", PayloadError(kind: .malformedJSON, detail: "at byte 0: the payload must be a JSON object {\"ts\": ..., \"metrics\": {...}}")),
        (#"{"metrics": {"a": 1}"#, PayloadError(kind: .malformedJSON, detail: "at byte 20: unexpected end, expected ',' or '}' in object")),
        (#"{"metrics": {"a" 1}}"#, PayloadError(kind: .malformedJSON, detail: "at byte 17: expected ':' after metric name")),
        (#"{"metrics": {"a": 01}}"#, PayloadError(kind: .malformedJSON, detail: "at byte 19: expected ',' or '}' in \"metrics\"")),
        (#"{"metrics": {"a": 1}} x"#, PayloadError(kind: .malformedJSON, detail: "at byte 22: unexpected content after the JSON object")),
        (#"{"ts": 1764240810123}"#, PayloadError(kind: .invalidPayload, detail: "no \"metrics\" object; send {\"ts\": ..., \"metrics\": {\"<sensor>\": <number>}}")),
        (#"{"metrics": [1, 2]}"#, PayloadError(kind: .invalidPayload, detail: "\"metrics\" must be an object of sensor: number, found a list")),
        (#"{"metrics": {"a": tru}}"#, PayloadError(kind: .malformedJSON, detail: "at byte 18: unexpected character 't'")),
    ])
    func malformed(_ text: String, _ error: PayloadError) {
        #expect(throws: error) { try decode(text).get() }
    }

    @Test func listsOfNumbersAreBlocks() throws {
        let payload = try decode(#"{"metrics": {"accel": [0.5, -1, 2e1, 0], "x": [], "bad": [1, true], "nested": [[1]]}}"#).get()
        let values = Dictionary(uniqueKeysWithValues: payload.metrics.map { ($0.key, $0.value) })
        #expect(values["accel"] == .block([0.5, -1, 20, 0]) && values["x"] == .block([]))
        #expect(values["bad"] == .nonNumeric("a list with something other than a finite number at index 1"))
        #expect(values["nested"] == .nonNumeric("a list with something other than a finite number at index 0"))
        let long = "[" + Array(repeating: "1", count: TelemetryDecoder.maxBlock + 1).joined(separator: ",") + "]"
        let tooLong = try decode(#"{"metrics": {"a": \#(long)}}"#).get()
        #expect(tooLong.metrics.first?.value == .nonNumeric("a list of more than 65536 values"))
    }

    @Test func deepNestingIsRefusedNotCrashing() {
        let deep = #"{"x": "# + String(repeating: "[", count: 100_000) + "}"
        guard case let .failure(e) = decode(deep) else { Issue.record("deep nesting accepted"); return }
        #expect(e.detail.contains("nesting deeper than 32 levels"))
    }

    /// Names in another encoding than UTF-8, and escapes of half a character, are refused with
    /// where and why, not turned into sensors named with replacement characters.
    @Test func textThatIsNotUnicodeIsRefusedWithItsPlace() throws {
        let latin1: [UInt8] = Array(#"{"metrics": {"temp"#.utf8) + [0xB0] + Array(#"C": 1}}"#.utf8)
        let cases: [([UInt8], String)] = [
            (latin1, "at byte 14: a string that is not valid UTF-8; JSON text must be UTF-8 (check the device's character encoding)"),
            (Array(#"{"metrics": {"a\ud83d": 1}}"#.utf8), "at byte 15: \\u escape of a lone surrogate (\\ud83d)"),
            (Array(#"{"metrics": {"a\ude00x": 1}}"#.utf8), "at byte 15: \\u escape of a lone surrogate (\\ude00)"),
            (Array(#"{"metrics": {"\ud83d\u0041": 1}}"#.utf8), "at byte 14: \\u escape of a high surrogate not followed by a low one"),
        ]
        for (bytes, message) in cases {
            #expect(TelemetryDecoder.decode(bytes) == .failure(PayloadError(kind: .malformedJSON, detail: message)))
        }
        #expect(try decode(#"{"metrics": {"\ud83d\ude00°": 1}}"#).get().metrics.first?.key == "😀°")
    }

    /// Random bytes and random mutations of a valid payload must never trap.
    @Test func arbitraryBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        let valid = Array(#"{"ts": "2025-11-27T10:53:30.123Z", "metrics": {"a\u0041": 1.5e3, "b": [true, null, "x\\y"]}}"#.utf8)
        for i in 0..<20_000 {
            var bytes = valid
            if i % 2 == 0 {
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let at = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0...2, using: &rng) {
                    case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes.remove(at: at)
                    default: bytes.insert(Array("{}[]\",:\\-0eE.".utf8).randomElement(using: &rng)!, at: at)
                    }
                    if bytes.isEmpty { break }
                }
            }
            _ = TelemetryDecoder.decode(bytes)
        }
    }
}

@Suite("TimeValueSeries")
struct TimeValueSeriesTests {
    @Test func parsesNABRowsKeepingTheirText() throws {
        let s = try TimeValueSeries(text: "timestamp,value\n2015-02-26 21:42:53,104\n2015-02-26T21:47:53Z,-1.5e1\n", file: "x.csv")
        #expect(s.timestamps == [Timestamp(milliseconds: 1_424_986_973_000), Timestamp(milliseconds: 1_424_987_273_000)])
        #expect(s.valueTexts == ["104", "-1.5e1"] && s.values == [104, -15])
    }

    @Test(arguments: [
        ("timestamp,value\n2015-02-26 21:42:53\n", "x.csv:2: expected timestamp,value"),
        ("timestamp,value\nyesterday,1\n", "x.csv:2: \"yesterday\" is not a time; use YYYY-MM-DD HH:MM:SS (UTC) or RFC 3339"),
        ("timestamp,value\n2015-02-26 21:42:53,nan\n", "x.csv:2: \"nan\" is not a finite number"),
        ("timestamp,value\n2015-02-26 21:42:53,+3\n", "x.csv:2: \"+3\" is not a finite number"),
    ])
    func rejectsBadRows(_ text: String, _ message: String) {
        #expect { try TimeValueSeries(text: text, file: "x.csv") } throws: { ($0 as? TimeValueSeries.Error)?.description == message }
    }
}
