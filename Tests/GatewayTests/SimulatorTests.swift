import FieldwatchCore
import FieldwatchTesting
import Foundation
import Gateway
import Ingest
import MQTT
import Profiles
import Synchronization
import Testing
import TimeSeries

struct SimLabel: Decodable {
    var site: String
    var device: String
    var sensors: [String]
    var scenario: String
    var fault_code: String
    var profile: String
    var onset: String
    var failure: String?
    var end: String?
    var critical: Double?
}

struct SimLine: Decodable {
    var topic: String
    var payload: String
}

func readLines<T: Decodable>(_ path: String, as type: T.Type) throws -> [T] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
        try JSONDecoder().decode(T.self, from: Data($0.utf8))
    }
}

final class Collected: Sendable {
    let items = Mutex<[Anomaly]>([])
}

@Suite("Simulator: deterministic output and ground truth", .serialized)
struct SimulatorTests {
    let start = "2026-03-01T06:00:00Z"

    func simulate(seed: Int, duration: Int = 90, faults: Int = 1, directory: URL) async throws -> (out: String, labels: String) {
        let out = directory.appendingPathComponent("sim-\(seed).jsonl").path
        let labels = directory.appendingPathComponent("labels-\(seed).jsonl").path
        let (status, text) = try await runTool("fieldwatch-sim", [
            "--out", out, "--labels", labels, "--start", start, "--seed", "\(seed)", "--duration", "\(duration)",
            "--rate", "2", "--faults", "\(faults)",
        ])
        #expect(status == 0, "\(text)")
        return (out, labels)
    }

    @Test func sameSeedGivesAByteIdenticalStreamAndAnotherSeedDoesNot() async throws {
        let dir = try makeTemporaryDirectory()
        let a = try await simulate(seed: 11, directory: dir)
        let first = try Data(contentsOf: URL(fileURLWithPath: a.out))
        let again = try await simulate(seed: 11, directory: try makeTemporaryDirectory())
        #expect(try Data(contentsOf: URL(fileURLWithPath: again.out)) == first)
        #expect(try Data(contentsOf: URL(fileURLWithPath: again.labels)) == Data(contentsOf: URL(fileURLWithPath: a.labels)))
        let other = try await simulate(seed: 12, directory: dir)
        #expect(try Data(contentsOf: URL(fileURLWithPath: other.out)) != first)
        // 3 devices × 2 Hz × 90 s.
        #expect(try readLines(a.out, as: SimLine.self).count == 540)
    }

    /// The label says when the critical limit is crossed; the signal crosses it then, no
    /// sensor of any device reaches a warning limit before the fault's onset, and the gateway's
    /// pipeline raises exactly the labelled fault.
    @Test(arguments: [3, 7, 21])
    func labelsLineUpWithTheSignalAndTheDetections(seed: Int) async throws {
        let dir = try makeTemporaryDirectory()
        let run = try await simulate(seed: seed, faults: 2, directory: dir)
        let labels = try readLines(run.labels, as: SimLabel.self)
        #expect(labels.count == 2)
        let root = Fixtures.packageRoot()
        let profiles = try ProfileLoader.load(paths: [root.appendingPathComponent("DeviceProfiles").path])
        let inventory = try Inventory.load(file: root.appendingPathComponent("Simulator/demo-site.yaml").path, profiles: profiles)
        let lines = try readLines(run.out, as: SimLine.self)

        for label in labels {
            #expect(label.scenario == "degradation")
            let sensor = try #require(profiles[label.profile]?.sensor(SensorKey(label.sensors[0])))
            let limits = try #require(sensor.limits)
            #expect(limits.faultCode.rawValue == label.fault_code && limits.critical == label.critical)
            let critical = try #require(label.critical)
            let onset = try #require(Timestamp(rfc3339: label.onset))
            let failure = try #require(label.failure.flatMap { Timestamp(rfc3339: $0) })
            // First sample of the labelled sensor beyond critical.
            let crossing = lines.lazy.filter { $0.topic == "fieldwatch/\(label.site)/\(label.device)/telemetry" }.compactMap { line -> Timestamp? in
                guard let payload = try? JSONSerialization.jsonObject(with: Data(line.payload.utf8)) as? [String: Any],
                      let metrics = payload["metrics"] as? [String: Double], let value = metrics[label.sensors[0]],
                      limits.direction.isBeyond(value, critical), let ts = payload["ts"] as? Int64
                else { return nil }
                return Timestamp(milliseconds: ts)
            }.first
            let crossed = try #require(crossing)
            #expect(abs((crossed - failure).secondsDouble) <= 3, "crossed at \(crossed), label says \(failure)")
            #expect(crossed > onset)
        }

        // Before the first onset nothing is even at a warning limit.
        let firstOnset = labels.compactMap { Timestamp(rfc3339: $0.onset) }.min()!
        for line in lines {
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(line.payload.utf8)) as? [String: Any])
            guard let ts = payload["ts"] as? Int64, ts < firstOnset.milliseconds else { continue }
            let device = String(line.topic.split(separator: "/")[2])
            let profileID = try #require(inventory.device(DeviceID(device))?.profileID)
            let profile = try #require(profiles[profileID])
            for (key, value) in try #require(payload["metrics"] as? [String: Double]) {
                guard let l = profile.sensor(SensorKey(key))?.limits else { continue }
                #expect(!l.direction.isBeyond(value, l.firstLimit), "\(device).\(key) = \(value) before any fault")
            }
        }

        // Through the real ingest pipeline: exactly the labelled faults are raised.
        let collected = Collected()
        let pipeline = IngestPipeline(inventory: inventory, profiles: profiles, store: SeriesStore(), deadLetters: DeadLetterFile(path: nil),
                                      now: { Timestamp(rfc3339: "2026-03-02T00:00:00Z")! }, sink: { a in collected.items.withLock { $0.append(a) } })
        for line in lines {
            let outcome = pipeline.handle(MQTTMessage(topic: line.topic, payload: Array(line.payload.utf8)))
            #expect(outcome.rejected.isEmpty)
        }
        let raised = collected.items.withLock { $0 }.filter { $0.transition == .raised }
        #expect(Set(raised.map { "\($0.device)/\($0.faultCode)" }) == Set(labels.map { "\($0.device)/\($0.fault_code)" }))
    }

    /// 200 simulated devices of all eight profiles through a real broker into the gateway:
    /// every message arrives and every sample is accepted.
    @Test func twoHundredDevicesThroughARealBroker() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory()
        let root = Fixtures.packageRoot()
        let profileIDs = try ProfileLoader.load(paths: [root.appendingPathComponent("DeviceProfiles").path]).keys.sorted()
        var yaml = "sites:\n"
        for s in 0..<10 {
            yaml += "  - {id: site-\(s), name: Site \(s), customer: Fleet, latitude: 22.\(s), longitude: 113.\(s), timezone: Asia/Shanghai}\n"
        }
        yaml += "devices:\n"
        for d in 0..<200 { yaml += "  - {id: dev-\(d), site: site-\(d % 10), profile: \(profileIDs[d % profileIDs.count])}\n" }
        let inventory = dir.appendingPathComponent("fleet.yaml").path
        try yaml.write(toFile: inventory, atomically: true, encoding: .utf8)

        var c = GatewayConfiguration()
        c.http = "127.0.0.1:0"  // a free port: tests run side by side
        c.broker = broker.url
        c.clientID = "fleet-gw"
        c.database = dir.appendingPathComponent("fw.db").path
        c.profiles = root.appendingPathComponent("DeviceProfiles").path
        c.inventory = inventory
        c.deadLetterFile = nil
        let running = try await RunningGateway(c)
        // 5 ticks of 200 devices, published as fast as the simulator can, at QoS 1.
        let (status, text) = try await runTool("fieldwatch-sim", [
            "--broker", broker.url, "--inventory", inventory, "--rate", "100", "--duration", "0.05", "--faults", "0", "--qos", "1",
            "--client-id", "fleet-sim",
        ])
        #expect(status == 0, "\(text)")
        #expect(text.contains("published 1000 messages"))
        let profiles = running.gateway.profiles
        let expectedSamples = (0..<200).reduce(0) { $0 + (profiles[profileIDs[$1 % profileIDs.count]]?.sensors.count ?? 0) } * 5
        #expect(await eventually { running.gateway.pipeline.counters.messages == 1000 })
        let counters = running.gateway.pipeline.counters
        #expect(counters.samplesAccepted == expectedSamples)
        #expect(counters.rejects.isEmpty)
        #expect(running.gateway.series.seriesCount == expectedSamples / 5)
        #expect(running.gateway.ingest.client.counters.droppedOverflow == 0)
        try await running.stop()
    }

    @Test func randomFaultsOfSeveralTypesAreDeterministic() async throws {
        func labels(_ dir: URL) async throws -> String {
            let path = dir.appendingPathComponent("l.jsonl").path
            let (status, text) = try await runTool("fieldwatch-sim", [
                "--out", dir.appendingPathComponent("o.jsonl").path, "--labels", path, "--start", start, "--duration", "60",
                "--faults", "6", "--fault-types", "stuck,sudden_failure,drift,spikes", "--seed", "4",
            ])
            #expect(status == 0, "\(text)")
            return try String(contentsOfFile: path, encoding: .utf8)
        }
        let first = try await labels(try makeTemporaryDirectory())
        #expect(try await labels(try makeTemporaryDirectory()) == first)
        let kinds = Set(first.split(separator: "\n").compactMap { try? JSONDecoder().decode(SimLabel.self, from: Data($0.utf8)).scenario })
        #expect(kinds.isSubset(of: ["stuck", "sudden_failure", "drift", "spikes"]) && kinds.count >= 2)
        let (status, text) = try await runTool("fieldwatch-sim", ["--out", "/dev/null", "--duration", "1", "--fault-types", "melt"])
        #expect(status != 0 && text.contains("--fault-types: \"melt\" is not a scenario type"))
    }

    @Test func drillMarksEveryMessageAndLabel() async throws {
        let dir = try makeTemporaryDirectory()
        let out = dir.appendingPathComponent("drill.jsonl").path
        let labels = dir.appendingPathComponent("drill-labels.jsonl").path
        let (status, text) = try await runTool("fieldwatch-sim", [
            "--out", out, "--labels", labels, "--start", start, "--duration", "30", "--rate", "1", "--faults", "1", "--drill",
        ])
        #expect(status == 0, "\(text)")
        let lines = try readLines(out, as: SimLine.self)
        #expect(lines.count == 90 && lines.allSatisfy { $0.payload.hasPrefix("{\"drill\":true,\"ts\":") })
        #expect(try String(contentsOfFile: labels, encoding: .utf8).contains("\"drill\":true"))
    }

    @Test func replayIsExact() async throws {
        let dir = try makeTemporaryDirectory()
        let csv = dir.appendingPathComponent("in.csv").path
        try "timestamp,value\n2015-02-26 21:42:53,104\n2015-02-26 21:47:53,100.25\n2015-02-26T21:52:53Z,-3e2\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.jsonl").path
        let (status, text) = try await runTool("fieldwatch-sim", ["replay", "--csv", csv, "--device", "pump-02", "--sensor", "bearing_temp", "--out", out])
        #expect(status == 0, "\(text)")
        #expect(try readLines(out, as: SimLine.self).map(\.payload) == [
            #"{"ts":1424986973000,"metrics":{"bearing_temp":104}}"#,
            #"{"ts":1424987273000,"metrics":{"bearing_temp":100.25}}"#,
            #"{"ts":1424987573000,"metrics":{"bearing_temp":-3e2}}"#,
        ])
        #expect(try readLines(out, as: SimLine.self).allSatisfy { $0.topic == "fieldwatch/sz-ps3/pump-02/telemetry" })

        // A NAB file from the shared dataset: one message per row, values unchanged.
        let nab = Fixtures.packageRoot().appendingPathComponent("../shared/datasets/nab-dev/data/realTweets/Twitter_volume_AAPL.csv").standardized.path
        guard FileManager.default.fileExists(atPath: nab) else { return }
        let rows = try String(contentsOfFile: nab, encoding: .utf8).split(whereSeparator: \.isNewline).dropFirst()
        let (nabStatus, _) = try await runTool("fieldwatch-sim", ["replay", "--csv", nab, "--device", "pump-01", "--sensor", "motor_current", "--out", out])
        #expect(nabStatus == 0)
        let replayed = try readLines(out, as: SimLine.self)
        #expect(replayed.count == rows.count)
        #expect(replayed.last?.payload.hasSuffix("\"motor_current\":\(rows.last!.split(separator: ",")[1])}}") == true)

        let (badStatus, badText) = try await runTool("fieldwatch-sim", ["replay", "--csv", csv, "--device", "pump-9", "--sensor", "x", "--out", out])
        #expect(badStatus != 0 && badText.contains("--device pump-9 is not in Simulator/demo-site.yaml"))
    }

    /// `--backfill` moves the simulated start back by the history it publishes first, so a run
    /// ends at the wall clock (or --start) with hours of data behind it; it needs a sample rate.
    @Test func backfillPublishesHistoryEndingAtTheStart() async throws {
        let out = try makeTemporaryDirectory().appendingPathComponent("out.jsonl").path
        let (status, text) = try await runTool("fieldwatch-sim", [
            "--out", out, "--start", "2026-03-02T08:00:00Z", "--backfill", "3600", "--rate", "0.1", "--duration", "3610", "--faults", "0",
        ])
        #expect(status == 0, "\(text)")
        let stamps = try readLines(out, as: SimLine.self).compactMap { line -> Int64? in
            (try? JSONSerialization.jsonObject(with: Data(line.payload.utf8)) as? [String: Any])?["ts"] as? Int64
        }
        let start = Timestamp(rfc3339: "2026-03-02T08:00:00Z")!.milliseconds
        #expect(stamps.min() == start - 3_600_000 && stamps.max()! >= start && stamps.max()! < start + 10_000, "\(stamps.min() ?? 0) … \(stamps.max() ?? 0)")
        let (badStatus, badText) = try await runTool("fieldwatch-sim", ["--backfill", "60", "--rate", "0"])
        #expect(badStatus != 0 && badText.contains("--backfill needs --rate above 0"), "\(badText)")
    }
}
