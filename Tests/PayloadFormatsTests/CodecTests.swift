import Foundation
import PayloadFormats
import Testing

@Suite("CBOR (RFC 8949)")
struct CBORTests {
    /// RFC 8949 appendix A: encoding → value.
    @Test(arguments: [
        ("00", CBORValue.unsigned(0)), ("17", .unsigned(23)), ("1818", .unsigned(24)), ("1903e8", .unsigned(1000)),
        ("1b000000e8d4a51000", .unsigned(1_000_000_000_000)), ("20", .negative(0)), ("3863", .negative(99)),
        ("f90000", .float(0)), ("f93c00", .float(1)), ("f97bff", .float(65504)), ("f90001", .float(5.960464477539063e-8)),
        ("fa47c35000", .float(100000)), ("fb3ff199999999999a", .float(1.1)), ("f97c00", .float(.infinity)),
        ("f4", .bool(false)), ("f5", .bool(true)), ("f6", .null), ("f7", .undefined), ("f0", .simple(16)), ("f8ff", .simple(255)),
        ("6449455446", .text("IETF")), ("62c3bc", .text("ü")), ("4401020304", .bytes([1, 2, 3, 4])),
        ("8301820203820405", .array([.unsigned(1), .array([.unsigned(2), .unsigned(3)]), .array([.unsigned(4), .unsigned(5)])])),
        ("a201020304", .map([.init(key: .unsigned(1), value: .unsigned(2)), .init(key: .unsigned(3), value: .unsigned(4))])),
        ("9f018202039f0405ffff", .array([.unsigned(1), .array([.unsigned(2), .unsigned(3)]), .array([.unsigned(4), .unsigned(5)])])),
        ("7f657374726561646d696e67ff", .text("streaming")), ("c11a514b67b0", .tagged(1, .unsigned(1_363_896_240))),
    ])
    func decodesTheRFCExamples(hex: String, value: CBORValue) throws {
        #expect(CBORValue.decode(bytes(hex)) == .success(value))
    }

    @Test func encodingRoundTrips() {
        let value = CBORValue.array([.map([.init(key: .negative(1), value: .text("sz-ps3/")), .init(key: .unsigned(2), value: .float(61.25))]),
                                     .unsigned(300), .negative(500), .bytes([0, 255]), .bool(true), .float(0.1)])
        #expect(CBORValue.decode(value.encoded) == .success(value))
    }

    /// Hostile input: lengths past the end, deep nesting, breaks out of place, truncation.
    @Test(arguments: [
        ("5bffffffffffffffff", "exceeds"), ("9bffffffffffffffff", "exceeds"), (String(repeating: "81", count: 40) + "00", "nesting deeper"),
        ("ff", "break outside"), ("1a0000", "unexpected end"), ("", "empty payload"), ("0000", "bytes after"), ("1c", "reserved"),
        ("62c328", "UTF-8"), ("5f4201026102ff", "another type"), ("9f01", "without a break"),
    ])
    func refusesBrokenInput(hex: String, problem: String) {
        guard case let .failure(error) = CBORValue.decode(bytes(hex)) else {
            Issue.record("\(hex) decoded")
            return
        }
        #expect(error.detail.contains(problem), "\(error.detail)")
        #expect(error.detail.hasPrefix("not valid CBOR: at byte "))
    }
}

@Suite("JSON values")
struct JSONValueTests {
    @Test func parsesAndKeepsBooleansApartFromNumbers() throws {
        let value = try JSONValue.parse(Array(#"{"a": [1, true, null, "x\u00e9"], "b": {"c": -2.5e3}, "n": NaN}"#.utf8)).get()
        #expect(value["a"] == .array([.number(1), .bool(true), .null, .string("xé")]))
        #expect(value["b"]?["c"] == .number(-2500))
        #expect(value["n"] == .nonFinite("NaN"))
        #expect(try JSONValue.parse(Array(value.text.utf8)).get() == value)
    }

    @Test(arguments: [("{", "unexpected end"), ("[1,]", "unexpected character"), (String(repeating: "[", count: 40), "nesting deeper"),
                      ("{\"a\" 1}", "expected ':'"), ("1 2", "unexpected content"), ("\"\u{01}\"", "control character")])
    func refusesBrokenJSON(text: String, problem: String) {
        guard case let .failure(error) = JSONValue.parse(Array(text.utf8)) else {
            Issue.record("\(text) parsed")
            return
        }
        #expect(error.detail.contains(problem), "\(error.detail)")
    }
}

@Suite("SenML (RFC 8428)")
struct SenMLTests {
    /// RFC 8428 §5.1.2: multiple measurements with base name, base time and base unit.
    @Test func resolvesBaseFieldsAsTheRFCExample() throws {
        let text = """
            [{"bn":"urn:dev:ow:10e2073a01080063:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},
             {"n":"current","t":-5,"v":1.2},{"n":"current","t":-4,"v":1.3},{"n":"current","t":-3,"v":1.4}]
            """
        let entries = try SenML.decode(json: Array(text.utf8)).get()
        #expect(entries.count == 4)
        #expect(entries[0] == .record(.init(name: "urn:dev:ow:10e2073a01080063:voltage", unit: "V", value: .number(120.1), time: .absolute(1.276020076001e9))))
        #expect(entries[1] == .record(.init(name: "urn:dev:ow:10e2073a01080063:current", unit: "A", value: .number(1.2), time: .absolute(1.276020071001e9))))
    }

    @Test func timesBelow2To28AreRelativeAndBaseValuesAdd() throws {
        let entries = try SenML.decode(json: Array(#"[{"bn":"a/","bv":10,"n":"x","v":1.5,"t":-2},{"n":"y","vb":true}]"#.utf8)).get()
        #expect(entries == [.record(.init(name: "a/x", value: .number(11.5), time: .relative(-2))), .record(.init(name: "a/y", value: .bool(true), time: .relative(0)))])
    }

    @Test func aBadRecordIsRefusedAloneAndAMustUnderstandLabelRefusesThePack() throws {
        let entries = try SenML.decode(json: Array(#"[{"n":"ok","v":1},{"n":"two","v":1,"vs":"a"},{"n":"nan","v":NaN},{"v":3},5]"#.utf8)).get()
        #expect(entries.count == 5)
        #expect(entries[0] == .record(.init(name: "ok", value: .number(1), time: .relative(0))))
        let details = entries.dropFirst().compactMap { if case let .rejected(_, _, d) = $0 { d } else { nil } }
        #expect(details.count == 4)
        #expect(details[0].contains("has 2 values"))
        #expect(details[1].contains("NaN is not a finite number"))
        #expect(details[2].contains("has no name"))
        #expect(details[3].contains("is not an object"))
        guard case let .failure(error) = SenML.decode(json: Array(#"[{"n":"x","v":1,"foo_":2}]"#.utf8)) else { Issue.record("accepted"); return }
        #expect(error.detail.contains("must-understand label \"foo_\""))
        guard case let .failure(newer) = SenML.decode(json: Array(#"[{"bver":11,"n":"x","v":1}]"#.utf8)) else { Issue.record("accepted"); return }
        #expect(newer.detail.contains("version 11"))
        guard case let .failure(notList) = SenML.decode(json: Array(#"{"n":"x"}"#.utf8)) else { Issue.record("accepted"); return }
        #expect(notList.kind == .invalid && notList.detail.contains("must be a JSON list"))
    }

    @Test func cborAndJSONWritersReadBackTheSame() throws {
        let measurements = [SenML.Measurement(name: "bearing_temp", unit: "Cel", value: 61.25), .init(name: "flow", unit: "m3/h", value: 120, time: -1)]
        let json = try SenML.decode(json: Array(SenML.json(baseName: "sz-ps3/pump-01/", baseTime: 1_765_000_000.5, measurements).utf8)).get()
        let cbor = try SenML.decode(cbor: SenML.cbor(baseName: "sz-ps3/pump-01/", baseTime: 1_765_000_000.5, measurements)).get()
        #expect(json == cbor)
        #expect(json.last == .record(.init(name: "sz-ps3/pump-01/flow", unit: "m3/h", value: .number(120), time: .absolute(1_764_999_999.5))))
    }
}

@Suite("Sparkplug B")
struct SparkplugTests {
    @Test func topicsParseAndBadOnesSayTheShape() throws {
        #expect(Sparkplug.Topic.parse("spBv1.0/g/DDATA/e/d") == .success(.init(group: "g", type: .deviceData, edgeNode: "e", device: "d")))
        #expect(Sparkplug.Topic.parse("spBv1.0/g/NBIRTH/e") == .success(.init(group: "g", type: .nodeBirth, edgeNode: "e")))
        #expect(Sparkplug.Topic.parse("spBv1.0/STATE/host") == nil)
        #expect(Sparkplug.Topic.parse("other/x") == nil)
        guard case let .failure(e)? = Sparkplug.Topic.parse("spBv1.0/g/DDATA/e") else { Issue.record("parsed"); return }
        #expect(e.detail.contains("spBv1.0/<group>/DDATA/<edge node>/<device>"))
        guard case .failure? = Sparkplug.Topic.parse("spBv1.0/g/XDATA/e") else { Issue.record("parsed"); return }
    }

    /// Signed integers arrive in their own width (pysparkplug) or sign-extended to 32 bits (Tahu).
    @Test(arguments: [(Sparkplug.DataType.int8, UInt32(255), -1.0), (.int8, UInt32.max, -1), (.int16, 0x8000, -32768), (.int16, 0xFFFF_8000, -32768),
                      (.int32, UInt32.max, -1), (.uint16, 65535, 65535), (.uint32, UInt32.max, 4_294_967_295)])
    func signedIntegersDecodeFromEitherEncoding(type: Sparkplug.DataType, raw: UInt32, expected: Double) {
        var metric = SparkplugMetric()
        metric.datatype = type.rawValue
        metric.intValue = raw
        #expect(Sparkplug.value(of: metric) == .number(expected))
    }

    @Test func dataWithoutADeclaredTypeUsesTheBirthsAndArraysAreBlocks() throws {
        var metric = SparkplugMetric()
        metric.intValue = 0xFFFF_FFFE
        #expect(Sparkplug.value(of: metric, declared: .int32) == .number(-2))
        #expect(Sparkplug.value(of: metric) == .number(4_294_967_294))
        let block = Sparkplug.blockMetric(name: "vib", alias: 3, values: [0.5, -1.25])
        #expect(Sparkplug.value(of: block) == .block([0.5, -1.25]))
        var null = SparkplugMetric()
        null.isNull = true
        #expect(Sparkplug.value(of: null) == .null)
        var date = SparkplugMetric()
        date.datatype = Sparkplug.DataType.dateTime.rawValue
        date.longValue = 1
        #expect(Sparkplug.value(of: date) == .unsupported("a DateTime"))
        guard case .failure = Sparkplug.decode([0xFF, 0xFF, 0xFF]) else { Issue.record("garbage decoded"); return }
    }
}

func bytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = hex.startIndex
    while i < hex.endIndex {
        let j = hex.index(i, offsetBy: 2)
        out.append(UInt8(hex[i..<j], radix: 16)!)
        i = j
    }
    return out
}
