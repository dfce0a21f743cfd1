import FieldwatchCore
import Foundation
import Testing
@testable import Ingest

/// The hand-written telemetry decoder is the ingest fast path. These tests hold it to the
/// general path, Foundation's `JSONDecoder`, on thousands of generated payloads: the same
/// keys, the same doubles bit for bit, the same kinds of values, the same timestamps.
@Suite("TelemetryDecoder agrees with JSONDecoder")
struct DecoderAgreementTests {
    /// Any JSON value, as the general path sees it.
    enum JSONValue: Decodable, Equatable {
        case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let s = try? c.decode(String.self) { self = .string(s) }
            else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
            else { self = .object(try c.decode([String: JSONValue].self)) }
        }
    }

    /// A small generator of JSON text with the variety devices send: any key order,
    /// whitespace, escapes, number spellings, nested unknown keys.
    struct Generator {
        var rng: SplitMix64

        mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
        mutating func space() -> String { ["", "", " ", "\n  ", "\t", " \r\n"][int(0...5)] }

        /// Number spellings: integers, decimals, exponents, -0, long mantissas, extremes.
        mutating func number() -> String {
            switch int(0...9) {
            case 0: return "\(int(-1_000_000...1_000_000))"
            case 1: return String(format: "%.\(int(0...6))f", Double.random(in: -1e4...1e4, using: &rng))
            case 2: return String(format: "%.17g", Double.random(in: -1e6...1e6, using: &rng))
            case 3: return "\(Double.random(in: -1...1, using: &rng))"
            case 4: return "\(int(1...9)).\(int(0...999))\(["e", "E"][int(0...1)])\(["", "+", "-"][int(0...2)])\(int(0...300))"
            case 5: return ["-0", "0", "0.0", "-0.0e0", "1E2", "5e-324", "2.2250738585072014e-308", "1.7976931348623157e308"][int(0...7)]
            case 6: return "123456789012345678901234567890"
            case 7: return "0.\(String(repeating: "3", count: int(1...40)))"
            case 8: return String(format: "%.3e", Double.random(in: -1e-5...1e-5, using: &rng))
            default: return "\(Double(bitPattern: UInt64.random(in: 0x0010_0000_0000_0000...0x7FEF_FFFF_FFFF_FFFF, using: &rng)))"
            }
        }

        /// A JSON string literal and the text it stands for.
        mutating func string() -> (json: String, text: String) {
            let pieces: [(String, String)] = [
                ("a", "a"), ("bearing_temp", "bearing_temp"), ("\\u0041", "A"), ("\\\"", "\""), ("\\\\", "\\"), ("\\/", "/"),
                ("\\n", "\n"), ("\\t", "\t"), ("°C", "°C"), ("\\u00b0", "°"), ("\\ud83d\\ude00", "😀"), ("温度", "温度"), (" ", " "),
            ]
            var json = "\"", text = ""
            for _ in 0..<int(1...4) {
                let (j, t) = pieces[int(0...(pieces.count - 1))]
                json += j
                text += t
            }
            return (json + "\"", text)
        }

        /// Any value, for keys the decoder must skip.
        mutating func value(depth: Int = 0) -> String {
            switch depth > 3 ? int(0...3) : int(0...5) {
            case 0: return number()
            case 1: return string().json
            case 2: return ["true", "false", "null"][int(0...2)]
            case 3: return "[" + (0..<int(0...3)).map { _ in number() }.joined(separator: ",\(space())") + "]"
            case 4: return "[" + (0..<int(0...3)).map { _ in value(depth: depth + 1) }.joined(separator: ",") + "]"
            default: return "{" + (0..<int(0...3)).map { i in "\"k\(i)\":\(space())\(value(depth: depth + 1))" }.joined(separator: ",") + "}"
            }
        }

        /// A payload whose metric names are unique, so key order is the only thing a
        /// dictionary-based reader loses.
        mutating func payload() -> String {
            var members: [String] = []
            var names = Set<String>()
            var metrics: [String] = []
            for _ in 0..<int(0...6) {
                let key = string()
                guard names.insert(key.text).inserted else { continue }
                let v: String
                switch int(0...9) {
                case 0...5: v = number()
                case 6: v = "[" + (0..<int(1...5)).map { _ in number() }.joined(separator: ",\(space())") + "]"
                default: v = value()
                }
                metrics.append("\(space())\(key.json)\(space()):\(space())\(v)")
            }
            members.append("\"metrics\":\(space()){\(metrics.joined(separator: ","))\(space())}")
            if chance(0.8) {
                let ms = Int64(int(946_684_800_000...4_102_444_800_000))
                members.append("\"ts\":\(space())" + (chance(0.5) ? "\(ms)" : "\"\(Timestamp(milliseconds: ms).rfc3339)\""))
            }
            if chance(0.2) { members.append("\"drill\": \(chance(0.5))") }
            for i in 0..<int(0...2) { members.append("\"x\(i)\": \(value())") }
            members.shuffle(using: &rng)
            return "\(space()){\(space())" + members.joined(separator: ",\(space())") + "\(space())}\(space())"
        }
    }

    @Test func generatedPayloadsDecodeAlikeOnBothPaths() throws {
        var generator = Generator(rng: SplitMix64(seed: 20261127))
        var disagreements: [String] = []
        for _ in 0..<5_000 {
            let text = generator.payload()
            let general = try JSONDecoder().decode([String: JSONValue].self, from: Data(text.utf8))
            guard case let .success(fast) = TelemetryDecoder.decode(Array(text.utf8)) else {
                disagreements.append("refused by the fast path: \(text)")
                continue
            }
            if let problem = Self.compare(fast, general) { disagreements.append("\(problem) in \(text)") }
        }
        #expect(disagreements.isEmpty, "\(disagreements.count) disagreements, first: \(disagreements.prefix(3))")
    }

    static func bits(_ v: JSONValue) -> UInt64? {
        if case let .number(d) = v { d.bitPattern } else { nil }
    }

    /// What differs between the two readings, or nil.
    static func compare(_ fast: TelemetryPayload, _ general: [String: JSONValue]) -> String? {
        guard case let .object(metrics)? = general["metrics"] else { return "no metrics object" }
        guard fast.metrics.count == metrics.count else { return "\(fast.metrics.count) metrics against \(metrics.count)" }
        for (key, value) in fast.metrics {
            guard let expected = metrics[key] else { return "metric \(key.debugDescription) unknown to JSONDecoder" }
            switch (value, expected) {
            case let (.number(a), .number(b)) where a.bitPattern == b.bitPattern: continue
            case let (.block(a), .array(b)) where a.map(\.bitPattern) == b.map(Self.bits): continue
            case (.nonNumeric("null"), .null), (.nonNumeric("the boolean true"), .bool(true)), (.nonNumeric("the boolean false"), .bool(false)),
                 (.nonNumeric("an object"), .object): continue
            case let (.nonNumeric(d), .string(s)) where d == "the string \"\(s.prefix(24))\"": continue
            case let (.nonNumeric(d), .array(items)) where d.hasPrefix("a list with something other than a finite number")
                && items.contains { if case .number = $0 { false } else { true } }: continue
            default: return "metric \(key.debugDescription): \(value) against \(expected)"
            }
        }
        switch (fast.timestamp, general["ts"]) {
        case (.missing, nil), (.missing, .null?): break
        case let (.valid(t), .number(ms)?) where Double(t.milliseconds) == ms: break
        case let (.valid(t), .string(s)?) where t.rfc3339 == s: break
        default: return "ts: \(fast.timestamp) against \(String(describing: general["ts"]))"
        }
        let drill: Bool = if case .bool(true)? = general["drill"] { true } else { false }
        return fast.drill == drill ? nil : "drill \(fast.drill) against \(drill)"
    }

    /// Payloads the general path refuses as JSON, the fast path refuses too: broken syntax,
    /// bytes that are not UTF-8 inside strings, lone surrogates in `\u` escapes.
    @Test func malformedJSONIsRefusedOnBothPaths() {
        var generator = Generator(rng: SplitMix64(seed: 7))
        var accepted: [String] = []
        var refused = 0
        for _ in 0..<3_000 {
            var bytes = Array(generator.payload().utf8)
            let at = generator.int(0...(bytes.count - 1))
            switch generator.int(0...2) {
            case 0: bytes.remove(at: at)
            case 1: bytes.insert(Array("{}[]\",:".utf8)[generator.int(0...6)], at: at)
            default: bytes = Array(bytes[..<at])
            }
            // One deliberate difference: a number beyond a Double's range fails the whole
            // message on the general path, only its metric on the fast one (`perMetricValueKinds`).
            let text = String(decoding: bytes, as: UTF8.self)
            let huge = text.matches(of: /-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/).contains { Double($0.output.0).map { !$0.isFinite } ?? false }
            let generalRefuses = (try? JSONSerialization.jsonObject(with: Data(bytes))) == nil
            guard generalRefuses, !huge else { continue }
            refused += 1
            if case .success = TelemetryDecoder.decode(bytes) {
                let why = Result { try JSONSerialization.jsonObject(with: Data(bytes)) }
                accepted.append("\(String(decoding: bytes, as: UTF8.self)) (JSONSerialization: \(why))")
            }
        }
        #expect(refused > 1_000)
        #expect(accepted.isEmpty, "accepted by the fast path only: \(accepted.prefix(3))")
    }
}
