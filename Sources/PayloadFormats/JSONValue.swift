/// A JSON document as a tree, for the payload formats whose shape is only known at run time
/// (SenML JSON, an inventory's custom JSON mapping).
///
/// Parsed by hand rather than with `JSONSerialization` because that one turns `true` into a
/// number 1 (a boolean status would pass as a reading), and because the `NaN` / `Infinity`
/// tokens some encoders emit must be recognised to be refused precisely. Nesting is bounded
/// and every length is checked against the input, so no payload can exhaust stack or memory.
public indirect enum JSONValue: Sendable, Equatable {
    case object([Member])
    case array([JSONValue])
    case string(String)
    case number(Double)
    /// `NaN`, `Infinity`, `-Infinity`, or a number too large for a Double: the token as written.
    case nonFinite(String)
    case bool(Bool)
    case null

    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
        public init(key: String, value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// The value of `key` in an object (the first, if a key repeats).
    public subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// What the value is, for a message: "the string \"on\"", "an object", "the number 3".
    public var described: String {
        switch self {
        case .object: "an object"
        case let .array(a): "a list of \(a.count) value\(a.count == 1 ? "" : "s")"
        case let .string(s): "the string \"\(s.prefix(24))\""
        case let .number(n): "the number \(n)"
        case let .nonFinite(t): t
        case let .bool(b): "the boolean \(b)"
        case .null: "null"
        }
    }

    public static let maxDepth = 32

    /// Parses one JSON text (UTF-8). The error says at which byte and what was wrong.
    public static func parse(_ bytes: [UInt8]) -> Result<JSONValue, FormatError> {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer)
            do throws(FormatError) {
                let value = try parser.value(depth: 0)
                parser.skipWhitespace()
                guard parser.i == buffer.count else { throw parser.fail("unexpected content after the JSON value") }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
    }
}

/// Why a payload could not be decoded at all, in any of the formats.
public struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Not the encoding at all (not JSON, not CBOR, not protobuf).
        case malformed
        /// Well-formed, but not the format's shape (a SenML pack that is not a list of records).
        case invalid
    }

    public var kind: Kind
    public var detail: String

    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail }
}

struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func fail(_ detail: String) -> FormatError { FormatError(.malformed, "not valid JSON: at byte \(i): \(detail)") }

    var current: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func skipWhitespace() {
        while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
    }

    func matches(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { return false }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { return false }
        return true
    }

    mutating func value(depth: Int) throws(FormatError) -> JSONValue {
        guard depth < JSONValue.maxDepth else { throw fail("nesting deeper than \(JSONValue.maxDepth) levels") }
        skipWhitespace()
        guard let c = current else { throw fail(bytes.isEmpty ? "empty payload" : "unexpected end, expected a value") }
        switch c {
        case UInt8(ascii: "{"):
            i += 1
            var members: [JSONValue.Member] = []
            skipWhitespace()
            if current == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipWhitespace()
                let key = try string()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw fail("expected ':' after object key") }
                i += 1
                members.append(.init(key: key, value: try value(depth: depth + 1)))
                skipWhitespace()
                if current == UInt8(ascii: ",") { i += 1; continue }
                if current == UInt8(ascii: "}") { i += 1; return .object(members) }
                throw fail(current == nil ? "unexpected end, expected ',' or '}'" : "expected ',' or '}' in object")
            }
        case UInt8(ascii: "["):
            i += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { i += 1; return .array(elements) }
            while true {
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                if current == UInt8(ascii: ",") { i += 1; continue }
                if current == UInt8(ascii: "]") { i += 1; return .array(elements) }
                throw fail(current == nil ? "unexpected end, expected ',' or ']'" : "expected ',' or ']' in list")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t") where matches("true"): i += 4; return .bool(true)
        case UInt8(ascii: "f") where matches("false"): i += 5; return .bool(false)
        case UInt8(ascii: "n") where matches("null"): i += 4; return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "N"), UInt8(ascii: "I"):
            return try number()
        default:
            throw fail("unexpected character '\(Character(Unicode.Scalar(c)))'")
        }
    }

    mutating func number() throws(FormatError) -> JSONValue {
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
        guard let value = Double(text) else { throw fail("invalid number \(text.prefix(40))") }
        return value.isFinite ? .number(value) : .nonFinite(String(text.prefix(40)))
    }

    mutating func skipDigits() {
        while let d = current, d >= 0x30, d <= 0x39 { i += 1 }
    }

    mutating func string() throws(FormatError) -> String {
        guard current == UInt8(ascii: "\"") else { throw fail(current == nil ? "unexpected end, expected a string" : "expected a string in double quotes") }
        i += 1
        let start = i
        var utf8: [UInt8] = []
        var escaped = false
        while true {
            guard let c = current else { throw fail("unterminated string") }
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                if !escaped {
                    let raw = UnsafeBufferPointer(rebasing: bytes[start..<(i - 1)])
                    // Most keys and names are ASCII: no validation, no intermediate array.
                    if raw.allSatisfy({ $0 < 0x80 }) { return String(decoding: raw, as: UTF8.self) }
                    guard let s = String(validating: raw, as: UTF8.self) else {
                        throw FormatError(.malformed, "not valid JSON: at byte \(start): a string that is not valid UTF-8; JSON text must be UTF-8")
                    }
                    return s
                }
                let raw = utf8
                guard let s = String(validating: raw, as: UTF8.self) else {
                    throw FormatError(.malformed, "not valid JSON: at byte \(start): a string that is not valid UTF-8; JSON text must be UTF-8")
                }
                return s
            case UInt8(ascii: "\\"):
                if !escaped {
                    escaped = true
                    utf8 = Array(bytes[start..<(i - 1)])
                }
                guard let e = current else { throw fail("unterminated escape") }
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), matches("\\u") {
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("\\u escape of a high surrogate not followed by a low one") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("\\u escape of a lone surrogate") }
                    utf8.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    throw fail("invalid escape \\\(Character(Unicode.Scalar(e)))")
                }
            default:
                guard c >= 0x20 else { throw fail("control character in string; escape it") }
                if escaped { utf8.append(c) }
            }
        }
    }

    mutating func hex4() throws(FormatError) -> UInt32 {
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
}

extension JSONValue {
    /// Compact JSON text of the value (the simulator's encoder and the tests use it).
    public var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case let .object(members):
            out += "{"
            for (n, m) in members.enumerated() {
                if n > 0 { out += "," }
                JSONValue.string(m.key).write(to: &out)
                out += ":"
                m.value.write(to: &out)
            }
            out += "}"
        case let .array(values):
            out += "["
            for (n, v) in values.enumerated() {
                if n > 0 { out += "," }
                v.write(to: &out)
            }
            out += "]"
        case let .string(s):
            out += "\""
            for c in s.unicodeScalars {
                switch c {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if c.value < 0x20 {
                        let hex = String(c.value, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(c)
                    }
                }
            }
            out += "\""
        case let .number(n):
            out += n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : "\(n)"
        case let .nonFinite(t): out += t
        case let .bool(b): out += b ? "true" : "false"
        case .null: out += "null"
        }
    }
}
