/// Sensor Measurement Lists (RFC 8428), JSON and CBOR: a pack is a list of records; base
/// fields (`bn`, `bt`, `bu`, `bv`, `bs`, `bver`) apply to the record they are in and every
/// record after it, until changed.
public enum SenML {
    /// The SenML version this reader understands (RFC 8428's, and RFC 9100's default).
    public static let version = 10
    /// Times below 2^28 s are relative to now (RFC 8428 §4.5.3).
    public static let relativeTimeLimit = 268_435_456.0

    /// A record with its base fields applied.
    public struct Record: Sendable, Equatable {
        public enum Value: Sendable, Equatable {
            case number(Double)
            case bool(Bool)
            case string(String)
            /// `vd`: base64 binary data.
            case data(String)
        }

        public enum Time: Sendable, Equatable {
            /// Seconds since the Unix epoch.
            case absolute(Double)
            /// Seconds from the moment the pack was received (zero or negative in practice).
            case relative(Double)
        }

        /// The base name in force (`bn`) and the record's own name (`n`), kept apart so a reader
        /// that knows the base (a device's prefix) need not join them.
        public var baseName: String
        public var localName: String
        public var unit: String?
        public var value: Value
        public var time: Time

        /// Base name and name joined: the record's full name.
        public var name: String { baseName.isEmpty ? localName : baseName + localName }

        public init(name: String, unit: String? = nil, value: Value, time: Time) {
            self.init(baseName: "", localName: name, unit: unit, value: value, time: time)
        }

        public init(baseName: String, localName: String, unit: String? = nil, value: Value, time: Time) {
            self.baseName = baseName
            self.localName = localName
            self.unit = unit
            self.value = value
            self.time = time
        }

        public static func == (a: Record, b: Record) -> Bool {
            a.name == b.name && a.unit == b.unit && a.value == b.value && a.time == b.time
        }
    }

    /// One entry of a decoded pack: a record, or why the record at `index` was refused
    /// (the others are still good).
    public enum Entry: Sendable, Equatable {
        case record(Record)
        case rejected(index: Int, name: String?, detail: String)
    }

    /// A field of a record before resolution, whichever encoding it came in.
    enum Field {
        case number(Double)
        case string(String)
        case bool(Bool)
        /// NaN or ±Infinity as written.
        case nonFinite(String)
        /// Anything else, described for the message.
        case other(String)

        var described: String {
            switch self {
            case let .number(n): "the number \(n)"
            case let .string(s): "the string \"\(s.prefix(24))\""
            case let .bool(b): "the boolean \(b)"
            case let .nonFinite(t): t
            case let .other(d): d
            }
        }
    }

    /// Decodes `application/senml+json`.
    public static func decode(json bytes: [UInt8]) -> Result<[Entry], FormatError> {
        switch JSONValue.parse(bytes) {
        case let .failure(error): return .failure(error)
        case let .success(value):
            guard case let .array(items) = value else {
                return .failure(FormatError(.invalid, "a SenML pack must be a JSON list of records [{\"n\": ..., \"v\": ...}], found \(value.described)"))
            }
            var records: [[(String, Field)]?] = []
            for item in items {
                guard case let .object(members) = item else { records.append(nil); continue }
                records.append(members.map { m in
                    let field: Field = switch m.value {
                    case let .number(n): .number(n)
                    case let .string(s): .string(s)
                    case let .bool(b): .bool(b)
                    case let .nonFinite(t): .nonFinite(t)
                    default: .other(m.value.described)
                    }
                    return (m.key, field)
                })
            }
            return resolve(records, encoding: "JSON")
        }
    }

    /// Decodes `application/senml+cbor`: the same records with integer labels (RFC 8428 table 6).
    public static func decode(cbor bytes: [UInt8]) -> Result<[Entry], FormatError> {
        switch CBORValue.decode(bytes) {
        case let .failure(error): return .failure(error)
        case let .success(value):
            guard case let .array(items) = value else {
                return .failure(FormatError(.invalid, "a SenML pack must be a CBOR array of records (maps), found \(value.described)"))
            }
            var records: [[(String, Field)]?] = []
            for item in items {
                guard case let .map(pairs) = item else { records.append(nil); continue }
                records.append(pairs.map { p in
                    let label: String = if let n = p.key.integer { cborLabels[n] ?? "label \(n)" } else if case let .text(t) = p.key { t } else { p.key.described }
                    let field: Field = switch p.value {
                    case let .text(s): .string(s)
                    case let .bool(b): .bool(b)
                    case let .bytes(b) where label == "vd": .string(base64URL(b))
                    default:
                        if let n = p.value.number { n.isFinite ? .number(n) : .nonFinite(n.isNaN ? "NaN" : n > 0 ? "Infinity" : "-Infinity") } else { .other(p.value.described) }
                    }
                    return (label, field)
                })
            }
            return resolve(records, encoding: "CBOR")
        }
    }

    /// RFC 8428 table 6.
    static let cborLabels: [Int64: String] = [
        -1: "bver", -2: "bn", -3: "bt", -4: "bu", -5: "bv", -6: "bs",
        0: "n", 1: "u", 2: "v", 3: "vs", 4: "vb", 5: "s", 6: "t", 7: "ut", 8: "vd",
    ]
    static let labelsByName = Dictionary(uniqueKeysWithValues: cborLabels.map { ($0.value, $0.key) })
    static let known: Set<String> = Set(cborLabels.values)

    static func resolve(_ records: [[(String, Field)]?], encoding: String) -> Result<[Entry], FormatError> {
        var baseName = ""
        var baseTime = 0.0
        var baseUnit: String?
        var baseValue = 0.0
        var baseSum = 0.0
        var entries: [Entry] = []
        entries.reserveCapacity(records.count)
        for (index, fields) in records.enumerated() {
            guard let fields else {
                entries.append(.rejected(index: index, name: nil, detail: "SenML record \(index) is not an object of labels"))
                continue
            }
            var problem: String?
            func note(_ detail: String) { if problem == nil { problem = detail } }
            func number(_ label: String, _ field: Field) -> Double? {
                if case let .number(n) = field { return n }
                note("\"\(label)\" must be a number, found \(field.described)")
                return nil
            }
            var name: String?
            var unit: String?
            var time = 0.0
            var values: [(String, Field)] = []
            for (label, field) in fields {
                switch label {
                case "bver":
                    if case let .number(v) = field, v > Double(version) {
                        return .failure(FormatError(.invalid, "SenML version \(Int(v)) (bver) is newer than the version \(version) this gateway reads; send version \(version) records"))
                    }
                case "bn":
                    if case let .string(s) = field { baseName = s } else { note("\"bn\" must be a string, found \(field.described)") }
                case "bt": if let v = number(label, field) { baseTime = v }
                case "bu":
                    if case let .string(s) = field { baseUnit = s } else { note("\"bu\" must be a string, found \(field.described)") }
                case "bv": if let v = number(label, field) { baseValue = v }
                case "bs": if let v = number(label, field) { baseSum = v }
                case "n":
                    if case let .string(s) = field { name = s } else { note("\"n\" must be a string, found \(field.described)") }
                case "u":
                    if case let .string(s) = field { unit = s } else { note("\"u\" must be a string, found \(field.described)") }
                case "t": if let v = number(label, field) { time = v }
                case "v", "vs", "vb", "vd", "s": values.append((label, field))
                case "ut": break
                default:
                    // RFC 8428 §4.4: a label ending in "_" must be understood, or the pack refused.
                    if label.hasSuffix("_") {
                        return .failure(FormatError(.invalid, "SenML record \(index) has the must-understand label \"\(label)\", which this gateway does not know; the pack is refused as RFC 8428 requires"))
                    }
                }
            }
            let localName = name ?? ""
            var fullName: String { baseName + localName }
            if let problem {
                entries.append(.rejected(index: index, name: fullName.isEmpty ? nil : fullName, detail: "SenML record \(index): \(problem)"))
                continue
            }
            guard !baseName.isEmpty || !localName.isEmpty else {
                entries.append(.rejected(index: index, name: nil, detail: "SenML record \(index) has no name (neither \"bn\" nor \"n\")"))
                continue
            }
            guard values.count == 1, let (label, field) = values.first else {
                let detail = values.isEmpty ? "has no value (\"v\", \"vb\", \"vs\", \"vd\" or \"s\")"
                    : "has \(values.count) values (\(values.map { "\"\($0.0)\"" }.joined(separator: ", "))); a record carries one"
                entries.append(.rejected(index: index, name: fullName, detail: "SenML record \(index) (\(fullName)) \(detail)"))
                continue
            }
            let value: Record.Value
            switch (label, field) {
            case let ("v", .number(v)): value = .number(baseValue + v)
            case let ("s", .number(v)): value = .number(baseSum + v)
            case let ("vb", .bool(b)): value = .bool(b)
            case let ("vs", .string(s)): value = .string(s)
            case let ("vd", .string(s)): value = .data(s)
            case let (_, .nonFinite(t)):
                entries.append(.rejected(index: index, name: fullName, detail: "SenML record \(index) (\(fullName)) value \(t) is not a finite number; the device must omit a reading it does not have"))
                continue
            default:
                let expected = ["v": "a number", "s": "a number", "vb": "a boolean", "vs": "a string", "vd": "a base64 string"][label] ?? "a value"
                entries.append(.rejected(index: index, name: fullName, detail: "SenML record \(index) (\(fullName)) \"\(label)\" must be \(expected), found \(field.described)"))
                continue
            }
            let t = baseTime + time
            entries.append(.record(Record(baseName: baseName, localName: localName, unit: unit ?? baseUnit, value: value,
                                          time: t < relativeTimeLimit ? .relative(t) : .absolute(t))))
        }
        if records.isEmpty {
            return .failure(FormatError(.invalid, "the SenML pack (\(encoding)) is an empty list; send at least one record"))
        }
        return .success(entries)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var i = 0
        while i + 2 < bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)], table[Int(n & 63)]]
            i += 3
        }
        if i < bytes.count {
            let n = UInt32(bytes[i]) << 16 | (i + 1 < bytes.count ? UInt32(bytes[i + 1]) << 8 : 0)
            out += [table[Int(n >> 18 & 63)], table[Int(n >> 12 & 63)]]
            if i + 1 < bytes.count { out.append(table[Int(n >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Writing (the simulator, the tests)

    /// One measurement to write: name relative to the pack's base name.
    public struct Measurement: Sendable {
        public var name: String
        public var unit: String?
        public var value: Double
        /// Seconds relative to the base time.
        public var time: Double

        public init(name: String, unit: String?, value: Double, time: Double = 0) {
            self.name = name
            self.unit = unit
            self.value = value
            self.time = time
        }
    }

    /// A pack as JSON text: the first record carries the base name and base time.
    public static func json(baseName: String, baseTime: Double, _ measurements: [Measurement]) -> String {
        JSONValue.array(records(baseName: baseName, baseTime: baseTime, measurements).map { fields in
            .object(fields.map { label, value in JSONValue.Member(key: label, value: value.json) })
        }).text
    }

    /// A pack as CBOR with integer labels.
    public static func cbor(baseName: String, baseTime: Double, _ measurements: [Measurement]) -> [UInt8] {
        CBORValue.array(records(baseName: baseName, baseTime: baseTime, measurements).map { fields in
            .map(fields.map { label, value in
                let n = labelsByName[label]!
                return CBORValue.Pair(key: n >= 0 ? .unsigned(UInt64(n)) : .negative(UInt64(-1 - n)), value: value.cbor)
            })
        }).encoded
    }

    enum Out {
        case number(Double), string(String)

        var json: JSONValue {
            switch self {
            case let .number(n): .number(n)
            case let .string(s): .string(s)
            }
        }

        var cbor: CBORValue {
            switch self {
            case let .number(x): x == x.rounded() && abs(x) < 1e15 ? (x >= 0 ? .unsigned(UInt64(x)) : .negative(UInt64(-1 - x))) : .float(x)
            case let .string(s): .text(s)
            }
        }
    }

    static func records(baseName: String, baseTime: Double, _ measurements: [Measurement]) -> [[(String, Out)]] {
        measurements.enumerated().map { index, m in
            var fields: [(String, Out)] = []
            if index == 0 {
                fields.append(("bn", .string(baseName)))
                fields.append(("bt", .number(baseTime)))
            }
            fields.append(("n", .string(m.name)))
            if let unit = m.unit { fields.append(("u", .string(unit))) }
            fields.append(("v", .number(m.value)))
            if m.time != 0 { fields.append(("t", .number(m.time))) }
            return fields
        }
    }
}
