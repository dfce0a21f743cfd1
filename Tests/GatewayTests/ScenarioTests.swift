import FieldwatchCore
import FieldwatchTesting
import Foundation
import Gateway
import Ingest
import MQTT
import Profiles
import Storage
import Testing
import TimeSeries

/// A fleet with one device per scenario, each scenario from minute 2 to minute 7 of a
/// ten-minute run at 1 Hz.
let scenarioFleet = """
    sites:
      - {id: s1, name: Site, customer: C, latitude: 22.5, longitude: 113.9, timezone: Asia/Shanghai}
    devices:
      - {id: stuck, site: s1, profile: centrifugal-pump}
      - {id: drift, site: s1, profile: centrifugal-pump}
      - {id: dropout, site: s1, profile: centrifugal-pump}
      - {id: dup, site: s1, profile: centrifugal-pump}
      - {id: ooo, site: s1, profile: centrifugal-pump}
      - {id: skew, site: s1, profile: centrifugal-pump}
      - {id: bad, site: s1, profile: centrifugal-pump}
      - {id: spiky, site: s1, profile: centrifugal-pump}
      - {id: sudden, site: s1, profile: centrifugal-pump}
      - {id: net, site: s1, profile: pipe-network-station}
      - {id: quiet, site: s1, profile: centrifugal-pump}
    scenarios:
      - {device: stuck, type: stuck, sensors: [bearing_temp], start: 2m, duration: 5m}
      - {device: drift, type: drift, sensors: [bearing_temp], start: 2m, duration: 5m, magnitude: 60}
      - {device: dropout, type: dropout, start: 2m, duration: 5m}
      - {device: dup, type: duplicates, start: 2m, duration: 5m}
      - {device: ooo, type: out_of_order, start: 2m, duration: 5m}
      - {device: skew, type: clock_skew, start: 2m, duration: 5m, magnitude: -3600}
      - {device: bad, type: malformed, start: 2m, duration: 5m, every: 10}
      - {device: spiky, type: spikes, sensors: [vibration_rms], start: 2m, duration: 5m, every: 30}
      - {device: sudden, type: sudden_failure, sensors: [motor_current], start: 2m}
      - {device: net, type: burst, start: 2m}
    """

struct Message {
    var topic: String
    var device: String
    var ts: Int64?
    var metrics: [String: Double]
    var raw: String
}

@Suite("Simulator scenarios leave their signature", .serialized)
struct ScenarioTests {
    static let start = Timestamp(rfc3339: "2026-03-02T08:00:00Z")!  // a Monday
    static let windowFrom = start.milliseconds + 120_000
    static let windowTo = start.milliseconds + 420_000

    func run() async throws -> (messages: [Message], labels: [SimLabel], lines: [SimLine]) {
        let dir = try makeTemporaryDirectory()
        let fleet = dir.appendingPathComponent("fleet.yaml").path
        try scenarioFleet.write(toFile: fleet, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.jsonl").path
        let labels = dir.appendingPathComponent("labels.jsonl").path
        let (status, text) = try await runTool("fieldwatch-sim", [
            "--inventory", fleet, "--out", out, "--labels", labels, "--start", "2026-03-02T08:00:00Z", "--rate", "1",
            "--duration", "600", "--faults", "0", "--seed", "9",
        ])
        #expect(status == 0, "\(text)")
        let lines = try readLines(out, as: SimLine.self)
        let messages = lines.map { line -> Message in
            let json = (try? JSONSerialization.jsonObject(with: Data(line.payload.utf8))) as? [String: Any]
            return Message(topic: line.topic, device: String(line.topic.split(separator: "/")[2]), ts: json?["ts"] as? Int64,
                           metrics: json?["metrics"] as? [String: Double] ?? [:], raw: line.payload)
        }
        return (messages, try readLines(labels, as: SimLabel.self), lines)
    }

    func telemetry(_ m: [Message], _ device: String) -> [Message] { m.filter { $0.device == device && $0.topic.hasSuffix("/telemetry") } }
    func inWindow(_ m: Message) -> Bool { (m.ts ?? 0) >= Self.windowFrom && (m.ts ?? 0) < Self.windowTo }

    @Test func everyScenarioHasItsSignature() async throws {
        let (messages, labels, lines) = try await run()
        #expect(labels.map(\.scenario) == ["stuck", "drift", "dropout", "duplicates", "out_of_order", "clock_skew", "malformed", "spikes", "sudden_failure", "burst"])
        #expect(labels.first { $0.scenario == "stuck" }?.fault_code == "SENSOR_STUCK")
        #expect(labels.first { $0.scenario == "burst" }?.fault_code == "PIPE_BURST")
        #expect(labels.first { $0.scenario == "sudden_failure" }?.failure == "2026-03-02T08:02:00.000Z")
        #expect(labels.first { $0.scenario == "spikes" }?.failure == nil)

        // stuck: one value in the window, varying outside it.
        let stuck = telemetry(messages, "stuck")
        #expect(Set(stuck.filter(inWindow).compactMap { $0.metrics["bearing_temp"] }).count == 1)
        #expect(Set(stuck.filter { !inWindow($0) }.compactMap { $0.metrics["bearing_temp"] }).count > 10)

        // drift: +60 °C per hour for 5 minutes ≈ +5 °C by the end of the window.
        let drift = telemetry(messages, "drift").filter(inWindow).compactMap { $0.metrics["bearing_temp"] }
        let gain = (drift.suffix(20).reduce(0, +) - drift.prefix(20).reduce(0, +)) / 20
        #expect(gain > 3.5 && gain < 6.5, "drift gain \(gain)")

        // dropout: no telemetry in the window; offline then online on the status topic.
        #expect(telemetry(messages, "dropout").filter(inWindow).isEmpty)
        #expect(messages.filter { $0.device == "dropout" && $0.topic.hasSuffix("/status") }.map(\.raw).map { $0.contains("offline") ? "offline" : "online" } == ["offline", "online"])

        // duplicates: every payload of the window twice.
        let dup = lines.filter { $0.topic.contains("/dup/") }
        let counts = Dictionary(grouping: dup, by: \.payload).mapValues(\.count)
        #expect(counts.values.filter { $0 == 2 }.count == 300)
        #expect(counts.values.allSatisfy { $0 <= 2 })

        // out of order: timestamps go backwards inside the window, never outside.
        let ooo = telemetry(messages, "ooo").compactMap(\.ts)
        let backwards = zip(ooo, ooo.dropFirst()).filter { $1 < $0 }.map(\.1)
        #expect(backwards.count >= 100)
        #expect(backwards.allSatisfy { $0 >= Self.windowFrom && $0 < Self.windowTo })
        #expect(ooo.count == 600)

        // clock skew: an hour behind inside the window.
        let skew = telemetry(messages, "skew")
        #expect(skew.filter { ($0.ts ?? 0) < Self.start.milliseconds }.count == 300)

        // malformed: every 10th message of the window is broken.
        let bad = telemetry(messages, "bad")
        #expect(bad.filter { $0.ts == nil || $0.metrics.isEmpty || $0.raw.contains("NaN") || $0.raw.contains("unknown_sensor") }.count == 30)

        // spikes: one-sample excursions past critical (4.5 mm/s) every 30 samples.
        let spikes = telemetry(messages, "spiky").compactMap { $0.metrics["vibration_rms"] }.filter { $0 > 4.5 }
        #expect(spikes.count == 10)

        // sudden failure: motor current past critical (69 A) from minute 2 on.
        let sudden = telemetry(messages, "sudden")
        #expect(sudden.filter { ($0.ts ?? 0) >= Self.windowFrom }.allSatisfy { ($0.metrics["motor_current"] ?? 0) > 69 })
        #expect(sudden.filter { ($0.ts ?? 0) < Self.windowFrom }.allSatisfy { ($0.metrics["motor_current"] ?? 0) < 60.5 })

        // burst: flow past 1080 m3/h and pressure below 1.4 bar at once.
        let net = telemetry(messages, "net").filter { ($0.ts ?? 0) >= Self.windowFrom }
        #expect(net.allSatisfy { ($0.metrics["flow"] ?? 0) > 1080 && ($0.metrics["pressure"] ?? 9) < 1.4 })
    }

    /// Through the gateway's pipeline: machine faults raise their fault codes, the stuck sensor
    /// raises SENSOR_STUCK; spikes, drift, duplicates, skew and normal operation raise nothing;
    /// malformed messages are counted.
    @Test func theGatewaySeesWhatTheLabelsSay() async throws {
        let (_, _, lines) = try await run()
        let root = Fixtures.packageRoot()
        let profiles = try ProfileLoader.load(paths: [root.appendingPathComponent("DeviceProfiles").path])
        let inventory = try Inventory.parse(scenarioFleet, file: "fleet.yaml", profiles: profiles)
        let collected = Collected()
        let pipeline = IngestPipeline(inventory: inventory, profiles: profiles, store: SeriesStore(), deadLetters: DeadLetterFile(path: nil),
                                      now: { Timestamp(rfc3339: "2026-03-03T00:00:00Z")! }, sink: { a in collected.items.withLock { $0.append(a) } })
        for line in lines where line.topic.hasSuffix("/telemetry") {
            pipeline.handle(MQTTMessage(topic: line.topic, payload: Array(line.payload.utf8)))
        }
        let raised = Set(collected.items.withLock { $0 }.filter { $0.transition == .raised }.map { "\($0.device)/\($0.faultCode)" })
        #expect(raised == ["sudden/MOTOR_OVERLOAD", "net/PIPE_BURST", "net/NETWORK_PRESSURE_LOW", "stuck/SENSOR_STUCK"])
        let rejects = pipeline.counters.rejects
        #expect(rejects[.malformedJSON] == 12 && rejects[.nonFiniteValue] == 6 && rejects[.unknownSensor] == 6 && rejects[.invalidTimestamp] == 6)
        #expect(rejects[.invalidPayload] == nil)
    }

    @Test func scenarioFileErrorsNameTheLine() async throws {
        let dir = try makeTemporaryDirectory()
        let fleet = dir.appendingPathComponent("fleet.yaml").path
        try (scenarioFleet + "\n  - {device: pump-99, type: stuck}\n  - {device: drift, type: melt}\n  - {device: quiet, type: stuck, sensors: [rpm]}\n")
            .write(toFile: fleet, atomically: true, encoding: .utf8)
        let (status, text) = try await runTool("fieldwatch-sim", ["--inventory", fleet, "--out", dir.appendingPathComponent("o").path, "--duration", "1"])
        #expect(status != 0)
        #expect(text.contains("fleet.yaml:27:27: scenarios[11].type: \"melt\" is not allowed; use one of degradation, sudden_failure"), "\(text)")
        #expect(text.contains("fleet.yaml:26:5: scenarios[10].device: no device \"pump-99\" in the inventory"), "\(text)")
        #expect(text.contains("fleet.yaml:28:5: scenarios[12].sensors: device \"quiet\" has no sensor \"rpm\""), "\(text)")
    }

    /// With a broker, a dropout is a real lost connection: the broker publishes the device's
    /// last will on its status topic.
    @Test func dropoutFiresTheDevicesLastWill() async throws {
        let broker = try MosquittoBroker()
        let dir = try makeTemporaryDirectory()
        let fleet = dir.appendingPathComponent("fleet.yaml").path
        try """
            sites:
              - {id: s1, name: Site, customer: C, latitude: 22.5, longitude: 113.9, timezone: Asia/Shanghai}
            devices:
              - {id: p1, site: s1, profile: centrifugal-pump}
              - {id: p2, site: s1, profile: centrifugal-pump}
            scenarios:
              - {device: p1, type: dropout, start: 1s, duration: 1s}
            """.write(toFile: fleet, atomically: true, encoding: .utf8)
        var c = GatewayConfiguration()
        c.http = "127.0.0.1:0"  // a free port: tests run side by side
        c.broker = broker.url
        c.clientID = "gw-dropout"
        c.database = dir.appendingPathComponent("fw.db").path
        c.profiles = Fixtures.packageRoot().appendingPathComponent("DeviceProfiles").path
        c.inventory = fleet
        c.deadLetterFile = nil
        let gateway = try await RunningGateway(c)
        let watcher = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "watcher", cleanSession: true))
        try watcher.subscribe("fieldwatch/+/+/#", qos: 1)
        try watcher.connect()
        #expect(await watcher.waitUntilConnected())
        try await Task.sleep(for: .milliseconds(300))
        let received = Task { () -> [MQTTMessage] in
            var all: [MQTTMessage] = []
            for await m in watcher.messages { all.append(m) }
            return all
        }
        let (status, text) = try await runTool("fieldwatch-sim", ["--broker", broker.url, "--inventory", fleet, "--rate", "10", "--duration", "3", "--faults", "0"])
        #expect(status == 0, "\(text)")
        try await Task.sleep(for: .milliseconds(500))
        watcher.disconnect()
        let messages = await received.value
        let statuses = messages.filter { $0.topic == "fieldwatch/s1/p1/status" }.map { String(decoding: $0.payload, as: UTF8.self) }
        #expect(statuses == ["{\"status\":\"online\"}", "{\"status\":\"offline\",\"reason\":\"connection lost\"}", "{\"status\":\"online\"}"])
        // p1 is silent for a second (10 ticks); p2 publishes throughout.
        let p1 = messages.filter { $0.topic == "fieldwatch/s1/p1/telemetry" }.count
        let p2 = messages.filter { $0.topic == "fieldwatch/s1/p2/telemetry" }.count
        #expect(p2 == 30 && p1 == 20, "p1 \(p1) p2 \(p2)")

        // The gateway turned the will into a DEVICE_OFFLINE ticket, and recorded the return.
        let store = try TicketStore(path: c.database)
        #expect(await eventually { (try? store.tickets().map(\.faultCode)) == ["DEVICE_OFFLINE"] })
        let ticket = try #require(try store.tickets().first)
        #expect(ticket.device == "p1" && ticket.grade == .general)
        #expect(await eventually { (try? store.detections(ticketID: ticket.id).map(\.transition)) == [.raised, .cleared] })
        try await gateway.stop()
    }
}
