import FieldwatchCore
import Ingest
import Profiles
import TimeSeries
import FieldwatchTesting
import Foundation
import MQTT
import PayloadFormats
import Synchronization
import Testing

/// Issue 19's "done when": a Sparkplug B edge node, a SenML sensor (JSON and CBOR) and a
/// custom-JSON gateway, each simulated, open tickets through a real broker into the gateway;
/// a sequence gap gets a rebirth request, and an edge node that dies takes its devices offline.
@Suite("Device formats end to end", .serialized)
struct FormatEndToEndTests {
    /// One site per format, one pump each; the mapped site's gateway publishes its own JSON.
    static let sites: [(id: String, format: String, extra: String)] = [
        ("sp-site", "sparkplug", "    sparkplug_group: PlantSP\n"),
        ("senml-site", "senml-json", ""),
        ("cbor-site", "senml-cbor", ""),
        ("map-site", "mapped", ""),
    ]

    static let mapping = """
        mappings:
          - topic: plant/{site}/{device}/data
            time: {path: time, format: local}
            metrics:
              bearing_temp: temp_c
              vibration_rms: vib.rms
              motor_current: {path: elec.amps, scale: 0.1}
              discharge_pressure: {path: p_kpa, scale: 0.01}
              run_hours: hours

        """

    static func inventory(_ sites: [(id: String, format: String, extra: String)], mapping: Bool) -> String {
        var text = "sites:\n"
        for s in sites {
            text += "  - id: \(s.id)\n    name: \(s.format) site\n    customer: Shenzhen Water Group\n    latitude: 22.53\n    longitude: 113.93\n    timezone: Asia/Shanghai\n\(s.extra)"
        }
        text += "devices:\n"
        for s in sites {
            text += "  - id: pump-\(s.format)\n    site: \(s.id)\n    profile: centrifugal-pump\n"
            if s.format == "mapped" { text += "    external_id: P-102\n" }
        }
        return text + (mapping ? Self.mapping : "")
    }

    @Test func everyFormatOpensItsTicketAndSparkplugSessionsAreFollowed() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory()
        let gatewayInventory = dir.appendingPathComponent("all.yaml")
        try Self.inventory(Self.sites, mapping: true).write(to: gatewayInventory, atomically: true, encoding: .utf8)
        let db = dir.appendingPathComponent("fw.db").path
        let serve = try spawn(Fixtures.packageRoot().appendingPathComponent(".build/debug/fieldwatch").path, [
            "serve", "--broker", broker.url, "--db", db, "--inventory", gatewayInventory.path, "--profiles", "DeviceProfiles",
            "--client-id", "formats", "--log-level", "notice",
        ], logPath: dir.appendingPathComponent("serve.log").path, environment: ["FIELDWATCH_DEAD_LETTER_FILE": "off", "FIELDWATCH_HTTP": "127.0.0.1:0"])
        defer { kill(serve, SIGKILL); waitpid(serve, nil, 0) }
        try await Task.sleep(for: .seconds(2))

        // The four simulators run side by side, each with its own site and format.
        let truths = try await withThrowingTaskGroup(of: (String, String).self) { group in
            for site in Self.sites {
                let file = dir.appendingPathComponent("\(site.id).yaml")
                try Self.inventory([site], mapping: site.format == "mapped").write(to: file, atomically: true, encoding: .utf8)
                group.addTask {
                    let (status, text) = try await runTool("fieldwatch-sim", [
                        "--broker", broker.url, "--inventory", file.path, "--format", site.format, "--client-id", "sim-\(site.format)",
                        "--seed", "3", "--rate", "20", "--duration", "16", "--fault-onset", "1", "--fault-ramp", "2", "--faults", "1",
                    ])
                    #expect(status == 0, "\(site.format): \(text)")
                    let truth = text.split(separator: "\n").first { $0.contains("ground truth:") }.map(String.init) ?? ""
                    return (site.format, truth)
                }
            }
            var all: [String: String] = [:]
            for try await (format, truth) in group { all[format] = truth }
            return all
        }

        var tickets: [[String: Any]] = []
        let complete = await eventually(timeout: .seconds(60)) {
            guard let (status, json) = try? runToolBlocking("fieldwatch", ["tickets", "list", "--db", db, "--json"]), status == 0,
                  let array = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else { return false }
            tickets = array
            return Set(array.compactMap { $0["device"] as? String }).count == Self.sites.count
        }
        let log = (try? String(contentsOf: dir.appendingPathComponent("serve.log"), encoding: .utf8)) ?? ""
        #expect(complete, "tickets: \(tickets.map { "\($0["device"] ?? "?") \($0["fault_code"] ?? "?")" })\n\(log.suffix(3000))")
        for site in Self.sites {
            let ticket = tickets.first { $0["device"] as? String == "pump-\(site.format)" }
            let fault = ticket?["fault_code"] as? String ?? "none"
            #expect(ticket?["source"] as? String == "predictive", "\(site.format)")
            #expect(truths[site.format]?.contains(fault) == true, "\(site.format): ticket \(fault) but \(truths[site.format] ?? "no truth")")
        }

        // A sequence gap on the edge node: the gateway asks it for a rebirth (NCMD).
        let host = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "e2e-watch", cleanSession: true))
        try host.subscribe("spBv1.0/PlantSP/NCMD/+", qos: 1)
        try host.connect()
        #expect(await host.waitUntilConnected(timeout: .seconds(10)))
        try await Task.sleep(for: .milliseconds(500))
        let ms = UInt64(Date().timeIntervalSince1970 * 1000)
        try host.publish(topic: "spBv1.0/PlantSP/DDATA/fieldwatch-sim/pump-sparkplug",
                         payload: Sparkplug.payload(at: ms, seq: 200, [Sparkplug.metric(name: "bearing_temp", alias: nil, value: 60)]), qos: 1)
        let received = Mutex<[MQTTMessage]>([])
        let reader = Task { for await message in host.messages { received.withLock { $0.append(message) } } }
        _ = await eventually(timeout: .seconds(20)) { received.withLock { !$0.isEmpty } }
        reader.cancel()
        let command = received.withLock { $0.first }
        #expect(command?.topic == "spBv1.0/PlantSP/NCMD/fieldwatch-sim")
        let rebirth = command.flatMap { try? Sparkplug.decode($0.payload).get() }
        #expect(rebirth?.metrics.first?.name == Sparkplug.rebirthMetric)
        host.disconnect()

        // An edge node killed without a goodbye: the broker publishes its NDEATH (its will), and
        // the gateway takes its devices offline.
        let file = dir.appendingPathComponent("sp-site.yaml").path
        let sim = try spawn(Fixtures.packageRoot().appendingPathComponent(".build/debug/fieldwatch-sim").path, [
            "--broker", broker.url, "--inventory", file, "--format", "sparkplug", "--client-id", "sim-killed", "--rate", "5", "--faults", "0",
        ], logPath: dir.appendingPathComponent("sim.log").path)
        try await Task.sleep(for: .seconds(4))
        kill(sim, SIGKILL)
        waitpid(sim, nil, 0)
        let offline = await eventually(timeout: .seconds(60)) {
            guard let (_, json) = try? runToolBlocking("fieldwatch", ["tickets", "list", "--db", db, "--json"]),
                  let array = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else { return false }
            return array.contains { $0["device"] as? String == "pump-sparkplug" && $0["fault_code"] as? String == "DEVICE_OFFLINE" }
        }
        #expect(offline, "\((try? String(contentsOf: dir.appendingPathComponent("serve.log"), encoding: .utf8))?.suffix(2000) ?? "")")
    }
}

@Suite("fieldwatch ingest explain", .serialized)
struct IngestExplainTests {
    @Test func explainsAMappedPayloadAndSparkplugDataAfterItsBirths() async throws {
        let dir = try makeTemporaryDirectory()
        let sample = dir.appendingPathComponent("sample.json")
        try #"{"time": "2026-12-08 08:30:00.500", "temp_c": 61.2, "elec": {"amps_x10": "n/a"}, "p_kpa": 350}"#.write(to: sample, atomically: true, encoding: .utf8)
        let (status, text) = try await runTool("fieldwatch", ["ingest", "explain", "--inventory", "Simulator/formats-site.yaml",
                                                              "--topic", "plant1/pumps/P-103/data", "--payload", sample.path])
        #expect(status == 0, "\(text)")
        for line in ["plant1/pumps/P-103/data (94 bytes): read as mapped", "2 sample(s) stored, 1 reject(s)",
                     "sample  pump-03 bearing_temp = 61.2 at 2026-12-08T00:30:00.500Z", "sample  pump-03 discharge_pressure = 3.5 at 2026-12-08T00:30:00.500Z",
                     "reject  non_numeric_value: sensor \"motor_current\" value is the string \"n/a\", not a number"] {
            #expect(text.contains(line), "missing \(line) in\n\(text)")
        }
        #expect(!text.contains("warning"), "the log stays quiet: \(text)")

        let ms = UInt64(Date().timeIntervalSince1970 * 1000) - 60_000
        let files = [
            ("spBv1.0/NanshanPS3/NBIRTH/edge1", Sparkplug.payload(at: ms, seq: 0, [Sparkplug.birthDeathMetric(1)])),
            ("spBv1.0/NanshanPS3/DBIRTH/edge1/pump-01", Sparkplug.payload(at: ms, seq: 1, [Sparkplug.metric(name: "bearing_temp", alias: 7, value: 55)])),
            ("spBv1.0/NanshanPS3/DDATA/edge1/pump-01", Sparkplug.payload(at: ms + 1000, seq: 3, [Sparkplug.metric(name: nil, alias: 7, value: 56.5)])),
        ].enumerated().map { n, m in
            let url = dir.appendingPathComponent("m\(n).bin")
            try? Data(m.1).write(to: url)
            return (m.0, url.path)
        }
        let (spStatus, spText) = try await runTool("fieldwatch", ["ingest", "explain", "--inventory", "Simulator/formats-site.yaml", "--json",
                                                                  "--message", "\(files[0].0)=\(files[0].1)", "--message", "\(files[1].0)=\(files[1].1)",
                                                                  "--topic", files[2].0, "--payload", files[2].1])
        #expect(spStatus == 0, "\(spText)")
        let lines = spText.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 3, "\(spText)")
        let last = try #require(lines.last)
        #expect(last["format"] as? String == "sparkplug")
        #expect((last["samples"] as? [[String: Any]])?.first?["value"] as? Double == 56.5)
        // Sequence 3 after 1: the gap is named and the rebirth the gateway would ask for.
        #expect((last["notes"] as? [String])?.contains { $0.contains("asked edge node edge1 for a rebirth") } == true, "\(last)")

        let (bad, badText) = try await runTool("fieldwatch", ["ingest", "explain", "--topic", "x"])
        #expect(bad != 0 && badText.contains("--topic and --payload go together"), "\(badText)")
    }
}

/// The simulator's formats carry the same readings: the same seeded run, written in each format
/// (`--out`), fed through the ingest pipeline, stores the same number of samples and raises the
/// same faults as in Fieldwatch JSON, with no reject.
@Suite("Simulator formats carry the same readings", .serialized)
struct SimulatorFormatTests {
    struct Line: Decodable {
        var topic: String
        var payload: String?
        var payload_base64: String?
    }

    func run(_ format: String, dir: URL) async throws -> (samples: Int, rejects: Int, raised: Set<String>, byFormat: [PayloadFormat: Int]) {
        let out = dir.appendingPathComponent("\(format).jsonl").path
        let (status, text) = try await runTool("fieldwatch-sim", [
            "--out", out, "--inventory", "Simulator/formats-site.yaml", "--format", format, "--start", "2026-03-01T06:00:00Z",
            "--seed", "5", "--duration", "120", "--rate", "2", "--faults", "2", "--fault-onset", "10", "--fault-ramp", "40",
        ])
        #expect(status == 0, "\(format): \(text)")
        let root = Fixtures.packageRoot()
        let profiles = try ProfileLoader.load(paths: [root.appendingPathComponent("DeviceProfiles").path])
        let inventory = try Inventory.load(file: root.appendingPathComponent("Simulator/formats-site.yaml").path, profiles: profiles)
        let collected = Collected()
        let pipeline = IngestPipeline(inventory: inventory, profiles: profiles, store: SeriesStore(), deadLetters: DeadLetterFile(path: nil),
                                      now: { Timestamp(rfc3339: "2026-03-02T00:00:00Z")! }, sink: { a in collected.items.withLock { $0.append(a) } })
        for line in try readLines(out, as: Line.self) {
            let payload = line.payload.map { Array($0.utf8) } ?? Array(Data(base64Encoded: line.payload_base64 ?? "") ?? Data())
            let outcome = pipeline.handle(MQTTMessage(topic: line.topic, payload: payload, receivedAt: Timestamp(rfc3339: "2026-03-01T07:00:00Z")!.date))
            #expect(outcome.rejected.isEmpty, "\(format) \(line.topic): \(outcome.rejected)")
        }
        let raised = Set(collected.items.withLock { $0 }.filter { $0.transition == .raised }.map { "\($0.device)/\($0.faultCode)" })
        let c = pipeline.counters
        return (c.samplesAccepted, c.totalRejects, raised, c.messagesByFormat)
    }

    @Test func everyFormatStoresWhatJSONStores() async throws {
        let dir = try makeTemporaryDirectory()
        let json = try await run("json", dir: dir)
        #expect(json.samples == 3 * 240 * 5 && !json.raised.isEmpty, "\(json)")
        for format in ["sparkplug", "senml-json", "senml-cbor", "mapped"] {
            let other = try await run(format, dir: dir)
            #expect(other.samples == json.samples && other.rejects == 0, "\(format): \(other.samples) samples, \(other.rejects) rejects")
            #expect(other.raised == json.raised, "\(format): \(other.raised) vs json \(json.raised)")
            let expected: PayloadFormat = switch format {
            case "sparkplug": .sparkplug
            case "senml-json": .senmlJSON
            case "senml-cbor": .senmlCBOR
            default: .mapped
            }
            #expect((other.byFormat[expected] ?? 0) > 0, "\(format): \(other.byFormat)")
        }
    }
}
