/// A CBOR data item (RFC 8949), as far as sensor payloads use it.
///
/// No CBOR library is among the packages this project may depend on, and SenML needs only the
/// core: integers, floats (half, single, double), text and byte strings, arrays and maps,
/// definite or indefinite, tags, and the simple values. The decoder is bounded: nesting is
/// capped, and every declared length is checked against the bytes that remain before anything
/// is allocated, so a hostile length field cannot reserve gigabytes.
public indirect enum CBORValue: Sendable, Equatable {
    case unsigned(UInt64)
    /// A negative integer, stored as CBOR encodes it: the value is `-1 - n`.
    case negative(UInt64)
    case bytes([UInt8])
    case text(String)
    case array([CBORValue])
    case map([Pair])
    case tagged(UInt64, CBORValue)
    case bool(Bool)
    case null
    case undefined
    case float(Double)
    case simple(UInt8)

    public struct Pair: Sendable, Equatable {
        public var key: CBORValue
        public var value: CBORValue
        public init(key: CBORValue, value: CBORValue) {
            self.key = key
            self.value = value
        }
    }

    /// The value as a Double when it is a number (an integer or a float, tags looked through).
    public var number: Double? {
        switch self {
        case let .unsigned(n): Double(n)
        case let .negative(n): -1 - Double(n)
        case let .float(f): f
        case let .tagged(_, v): v.number
        default: nil
        }
    }

    /// The value as a (small) integer key, for maps keyed by integers (SenML's labels).
    public var integer: Int64? {
        switch self {
        case let .unsigned(n): n <= UInt64(Int64.max) ? Int64(n) : nil
        case let .negative(n): n < UInt64(Int64.max) ? -1 - Int64(n) : nil
        default: nil
        }
    }

    /// What the item is, for a message.
    public var described: String {
        switch self {
        case let .unsigned(n): "the integer \(n)"
        case .negative: "the integer \(integer.map(String.init) ?? "below -2^63")"
        case let .bytes(b): "a byte string of \(b.count) bytes"
        case let .text(s): "the text \"\(s.prefix(24))\""
        case let .array(a): "an array of \(a.count) items"
        case .map: "a map"
        case let .tagged(tag, v): "\(v.described) tagged \(tag)"
        case let .bool(b): "the boolean \(b)"
        case .null: "null"
        case .undefined: "undefined"
        case let .float(f): "the number \(f)"
        case let .simple(s): "the simple value \(s)"
        }
    }

    public static let maxDepth = 32

    /// Decodes exactly one data item filling the whole input.
    public static func decode(_ bytes: [UInt8]) -> Result<CBORValue, FormatError> {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = CBORReader(bytes: buffer)
            do throws(FormatError) {
                let value = try reader.item(depth: 0)
                guard reader.i == buffer.count else { throw reader.fail("\(buffer.count - reader.i) bytes after the data item") }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
    }

    /// The item's encoding (preferred serialisation: shortest lengths; floats as doubles
    /// unless a single keeps the value exactly).
    public var encoded: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    func encode(into out: inout [UInt8]) {
        func head(_ major: UInt8, _ n: UInt64) {
            let m = major << 5
            switch n {
            case 0..<24: out.append(m | UInt8(n))
            case 24..<0x100: out += [m | 24, UInt8(n)]
            case 0x100..<0x10000: out += [m | 25, UInt8(n >> 8), UInt8(n & 0xFF)]
            case 0x10000..<0x1_0000_0000: out.append(m | 26); for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8((n >> UInt64(s)) & 0xFF)) }
            default: out.append(m | 27); for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8((n >> UInt64(s)) & 0xFF)) }
            }
        }
        switch self {
        case let .unsigned(n): head(0, n)
        case let .negative(n): head(1, n)
        case let .bytes(b): head(2, UInt64(b.count)); out += b
        case let .text(s): head(3, UInt64(s.utf8.count)); out += Array(s.utf8)
        case let .array(a): head(4, UInt64(a.count)); for v in a { v.encode(into: &out) }
        case let .map(pairs): head(5, UInt64(pairs.count)); for p in pairs { p.key.encode(into: &out); p.value.encode(into: &out) }
        case let .tagged(tag, v): head(6, tag); v.encode(into: &out)
        case let .bool(b): out.append(b ? 0xF5 : 0xF4)
        case .null: out.append(0xF6)
        case .undefined: out.append(0xF7)
        case let .simple(s): if s < 24 { out.append(0xE0 | s) } else { out += [0xF8, s] }
        case let .float(f):
            if Double(Float(f)) == f || f.isNaN {
                out.append(0xFA)
                let bits = Float(f).bitPattern
                for s in stride(from: 24, through: 0, by: -8) { out.append(UInt8((bits >> UInt32(s)) & 0xFF)) }
            } else {
                out.append(0xFB)
                let bits = f.bitPattern
                for s in stride(from: 56, through: 0, by: -8) { out.append(UInt8((bits >> UInt64(s)) & 0xFF)) }
            }
        }
    }
}

struct CBORReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    func fail(_ detail: String) -> FormatError { FormatError(.malformed, "not valid CBOR: at byte \(i): \(detail)") }

    mutating func byte() throws(FormatError) -> UInt8 {
        guard i < bytes.count else { throw fail(bytes.isEmpty ? "empty payload" : "unexpected end of data") }
        defer { i += 1 }
        return bytes[i]
    }

    mutating func uint(_ count: Int) throws(FormatError) -> UInt64 {
        guard bytes.count - i >= count else { throw fail("unexpected end of data in a \(count)-byte argument") }
        var v: UInt64 = 0
        for _ in 0..<count { v = v << 8 | UInt64(bytes[i]); i += 1 }
        return v
    }

    /// The argument of an initial byte; nil for indefinite length (additional info 31).
    mutating func argument(_ info: UInt8) throws(FormatError) -> UInt64? {
        switch info {
        case 0..<24: return UInt64(info)
        case 24: return try uint(1)
        case 25: return try uint(2)
        case 26: return try uint(4)
        case 27: return try uint(8)
        case 31: return nil
        default: throw fail("reserved additional information \(info)")
        }
    }

    /// A length that must fit in what is left of the input (each element takes at least one byte).
    func length(_ n: UInt64, _ what: String) throws(FormatError) -> Int {
        guard n <= UInt64(bytes.count - i) else { throw fail("\(what) of \(n) exceeds the \(bytes.count - i) bytes left") }
        return Int(n)
    }

    mutating func item(depth: Int) throws(FormatError) -> CBORValue {
        guard depth < CBORValue.maxDepth else { throw fail("nesting deeper than \(CBORValue.maxDepth) levels") }
        let initial = try byte()
        let major = initial >> 5
        let info = initial & 0x1F
        switch major {
        case 0, 1:
            guard let n = try argument(info) else { throw fail("an integer cannot have indefinite length") }
            return major == 0 ? .unsigned(n) : .negative(n)
        case 2, 3:
            var data: [UInt8] = []
            if let n = try argument(info) {
                let count = try length(n, "a string length")
                data = Array(bytes[i..<(i + count)])
                i += count
            } else {
                // Indefinite: definite chunks of the same major type up to a break.
                while true {
                    let chunk = try byte()
                    if chunk == 0xFF { break }
                    guard chunk >> 5 == major, let n = try argument(chunk & 0x1F) else { throw fail("an indefinite string holds a chunk of another type") }
                    let count = try length(n, "a chunk length")
                    data += bytes[i..<(i + count)]
                    i += count
                }
            }
            if major == 2 { return .bytes(data) }
            guard let s = String(validating: data, as: UTF8.self) else { throw fail("a text string that is not valid UTF-8") }
            return .text(s)
        case 4:
            var items: [CBORValue] = []
            if let n = try argument(info) {
                let count = try length(n, "an array length")
                items.reserveCapacity(count)
                for _ in 0..<count { items.append(try item(depth: depth + 1)) }
            } else {
                while true {
                    guard i < bytes.count else { throw fail("indefinite array without a break") }
                    if bytes[i] == 0xFF { i += 1; break }
                    items.append(try item(depth: depth + 1))
                }
            }
            return .array(items)
        case 5:
            var pairs: [CBORValue.Pair] = []
            if let n = try argument(info) {
                let count = try length(n, "a map size")
                for _ in 0..<count { pairs.append(.init(key: try item(depth: depth + 1), value: try item(depth: depth + 1))) }
            } else {
                while true {
                    guard i < bytes.count else { throw fail("indefinite map without a break") }
                    if bytes[i] == 0xFF { i += 1; break }
                    pairs.append(.init(key: try item(depth: depth + 1), value: try item(depth: depth + 1)))
                }
            }
            return .map(pairs)
        case 6:
            guard let tag = try argument(info) else { throw fail("a tag cannot have indefinite length") }
            return .tagged(tag, try item(depth: depth + 1))
        default:
            switch info {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            case 23: return .undefined
            case 24:
                let s = try byte()
                guard s >= 32 else { throw fail("a two-byte simple value below 32") }
                return .simple(s)
            case 25: return .float(Double(half: UInt16(try uint(2))))
            case 26: return .float(Double(Float(bitPattern: UInt32(try uint(4)))))
            case 27: return .float(Double(bitPattern: try uint(8)))
            case 31: throw fail("a break outside an indefinite-length item")
            case 0..<20: return .simple(info)
            default: throw fail("reserved simple value \(info)")
            }
        }
    }
}

extension Double {
    /// An IEEE 754 half-precision value (RFC 8949 appendix D).
    init(half bits: UInt16) {
        let exponent = Int(bits >> 10) & 0x1F
        let mantissa = Double(bits & 0x3FF)
        let magnitude: Double
        switch exponent {
        case 0: magnitude = mantissa * 0x1p-24
        case 31: magnitude = mantissa == 0 ? .infinity : .nan
        default: magnitude = (mantissa + 1024) * Double(sign: .plus, exponent: exponent - 25, significand: 1)
        }
        self = bits & 0x8000 != 0 ? -magnitude : magnitude
    }
}
