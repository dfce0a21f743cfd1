import FieldwatchTesting
import Foundation
import PayloadFormats
import Testing

/// The decoders against reference implementations: Python's protobuf (with pysparkplug's
/// Sparkplug B schema) and cbor2 encode random payloads, which must decode here to what they
/// meant; and what the Swift encoders (the simulator's) write must decode there.
@Suite("Payload formats agree with reference decoders", .serialized)
struct OracleAgreementTests {
    func runOracle(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Fixtures.packageRoot().appendingPathComponent("scripts/format-oracle.py").path] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readAllRetryingInterrupts()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        if process.terminationStatus == 3 { throw FixtureError(text) }
        return (process.terminationStatus, text)
    }

    struct Expected: Decodable {
        struct Metric: Decodable { var name: String; var number: Double?; var bool: Bool?; var text: String?; var block: [Double]?; var null: Bool? }
        struct Record: Decodable { var name: String; var unit: String?; var number: Double?; var bool: Bool?; var text: String?; var time: [String: Double] }
        var file: String
        var timestamp: UInt64?
        var seq: UInt64?
        var metrics: [Metric]?
        var records: [Record]?
    }

    @Test func referenceEncodedPayloadsDecodeToWhatTheyMeant() throws {
        let dir = try makeTemporaryDirectory()
        let (status, text) = try runOracle(["generate", dir.path, "--count", "300", "--seed", "7"])
        try #require(status == 0, "\(text)")
        let lines = try String(contentsOf: dir.appendingPathComponent("expected.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 600)
        var metrics = 0
        var records = 0
        for line in lines {
            let expected = try JSONDecoder().decode(Expected.self, from: Data(line.utf8))
            let data = Array(try Data(contentsOf: dir.appendingPathComponent(expected.file)))
            if let want = expected.metrics {
                let payload = try Sparkplug.decode(data).get()
                #expect(payload.timestamp == expected.timestamp && payload.seq == expected.seq, "\(expected.file)")
                try #require(payload.metrics.count == want.count, "\(expected.file)")
                for (metric, w) in zip(payload.metrics, want) {
                    metrics += 1
                    let got = Sparkplug.value(of: metric)
                    let meant: Sparkplug.Value = if w.null == true { .null } else if let n = w.number { .number(n) } else if let b = w.bool { .bool(b) }
                        else if let t = w.text { .text(t) } else { .block(w.block ?? []) }
                    #expect(got == meant, "\(expected.file) \(w.name)")
                }
            } else if let want = expected.records {
                let entries = try SenML.decode(cbor: data).get()
                try #require(entries.count == want.count, "\(expected.file)")
                for (entry, w) in zip(entries, want) {
                    records += 1
                    guard case let .record(r) = entry else { Issue.record("\(expected.file): \(entry)"); continue }
                    let value: SenML.Record.Value = if let n = w.number { .number(n) } else if let b = w.bool { .bool(b) } else { .string(w.text ?? "") }
                    let time: SenML.Record.Time = if let a = w.time["absolute"] { .absolute(a) } else { .relative(w.time["relative"] ?? .nan) }
                    #expect(r == SenML.Record(name: w.name, unit: w.unit, value: value, time: time), "\(expected.file)")
                }
            }
        }
        #expect(metrics > 600 && records > 600, "\(metrics) metrics, \(records) records")
    }

    @Test func whatTheSimulatorWritesDecodesInTheReferenceLibraries() throws {
        let dir = try makeTemporaryDirectory()
        var rng = SystemRandomNumberGenerator()
        var lines: [String] = []
        for n in 0..<100 {
            let ts = UInt64.random(in: 1_700_000_000_000...1_800_000_000_000, using: &rng)
            let values = (0..<Int.random(in: 1...6, using: &rng)).map { _ in Double.random(in: -1e4...1e4, using: &rng) }
            let metrics = values.enumerated().map { i, v in Sparkplug.metric(name: "m\(i)", alias: i % 2 == 0 ? UInt64(i + 1) : nil, value: v) }
                + [Sparkplug.birthDeathMetric(UInt64(n)), Sparkplug.blockMetric(name: "wave", alias: nil, values: [0.5, -0.25, Double(n)])]
            try Data(Sparkplug.payload(at: ts, seq: UInt64(n % 256), metrics)).write(to: dir.appendingPathComponent("swift-\(n).bin"))
            let expected = values.enumerated().map { i, v in "{\"name\":\"m\(i)\",\"alias\":\(i % 2 == 0 ? "\(i + 1)" : "null"),\"number\":\(v)}" }
                + ["{\"name\":\"bdSeq\",\"number\":\(n)}", "{\"name\":\"wave\",\"block\":[0.5,-0.25,\(Double(n))]}"]
            lines.append("{\"file\":\"swift-\(n).bin\",\"timestamp\":\(ts),\"seq\":\(n % 256),\"metrics\":[\(expected.joined(separator: ","))]}")

            let base = Double.random(in: 1.7e9...1.8e9, using: &rng).rounded() + 0.5
            let measurements = values.enumerated().map { i, v in SenML.Measurement(name: "s\(i)", unit: i % 2 == 0 ? "Cel" : nil, value: v, time: Double(-i)) }
            try Data(SenML.cbor(baseName: "site/dev-\(n)/", baseTime: base, measurements)).write(to: dir.appendingPathComponent("swift-\(n).cbor"))
            let records = measurements.map { m in
                "{\"name\":\"site/dev-\(n)/\(m.name)\",\"unit\":\(m.unit.map { "\"\($0)\"" } ?? "null"),\"number\":\(m.value),\"time\":\(base + m.time)}"
            }
            lines.append("{\"file\":\"swift-\(n).cbor\",\"records\":[\(records.joined(separator: ","))]}")
        }
        try lines.joined(separator: "\n").write(to: dir.appendingPathComponent("swift-expected.jsonl"), atomically: true, encoding: .utf8)
        let (status, text) = try runOracle(["check", dir.path])
        #expect(status == 0, "\(text)")
        #expect(text.contains("checked 200 payloads, 0 disagreement(s)"), "\(text)")
    }
}
