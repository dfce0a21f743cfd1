import FieldwatchCore
import FieldwatchTesting
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Gateway
import Logging
import MQTT
import ServiceLifecycle
import Storage
import Testing

/// A gateway running in-process against a real broker and a real SQLite file.
final class RunningGateway: @unchecked Sendable {
    let gateway: Gateway
    let group: ServiceGroup
    let task: Task<Void, any Error>

    init(_ configuration: GatewayConfiguration, logger: Logger = Logger(label: "test.gateway")) async throws {
        gateway = try Gateway(configuration: configuration, logger: logger)
        group = gateway.makeServiceGroup(gracefulShutdownSignals: [])
        let group = self.group
        task = Task { try await group.run() }
        guard await gateway.ingest.client.waitUntilConnected(timeout: .seconds(20)) else {
            throw FixtureError("the gateway did not connect to the broker within 20 s")
        }
        // The subscription goes out from the connect callback; let the broker register it.
        try await Task.sleep(for: .milliseconds(300))
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

struct Site {
    let broker: MosquittoBroker
    let directory: URL
    let configuration: GatewayConfiguration
    let publisher: MQTTClient

    init() async throws {
        broker = try MosquittoBroker()
        directory = try makeTemporaryDirectory()
        let (profiles, inventory) = try Fixtures.writeSite(in: directory)
        var c = GatewayConfiguration()
        c.http = "127.0.0.1:0"  // a free port: tests run side by side
        c.broker = broker.url
        c.clientID = "gw-\(UUID().uuidString.prefix(8))"
        c.database = directory.appendingPathComponent("fieldwatch.db").path
        c.profiles = profiles
        c.inventory = inventory
        c.deadLetterFile = directory.appendingPathComponent("dead.jsonl").path
        configuration = c
        publisher = try MQTTClient(configuration: MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: "device-sim", cleanSession: true))
        try publisher.connect()
        guard await publisher.waitUntilConnected() else { throw FixtureError("publisher could not connect") }
    }

    /// Publishes bearing_temp readings one second apart (by timestamp), starting at `start`.
    func publish(_ values: [Double], start: Int64, device: String = "pump-1") async throws {
        for (i, v) in values.enumerated() {
            try publisher.publish(topic: "fieldwatch/site-a/\(device)/telemetry",
                                  payload: #"{"ts": \#(start + Int64(i) * 1000), "metrics": {"bearing_temp": \#(v)}}"#, qos: 1)
        }
        #expect(await publisher.waitUntilPublished())
    }

    func store() throws -> TicketStore { try TicketStore(path: configuration.database) }
}

@Suite("End to end: telemetry → ticket, on a real broker and SQLite")
struct EndToEndTests {
    @Test func criticalTelemetryOpensOneTicketAndSurvivesAGatewayRestart() async throws {
        let site = try await Site()
        let t0 = Timestamp.now().milliseconds - 600_000
        var running = try await RunningGateway(site.configuration)

        // 1. Above critical (95 °C) for longer than the 2 s minimum → exactly one ticket, with evidence.
        try await site.publish([60, 61, 97, 97, 97, 98], start: t0)
        #expect(await eventually { (try? site.store().tickets().count) == 1 })
        let ticket = try #require(try site.store().tickets().first)
        #expect(ticket.device == "pump-1" && ticket.site == "site-a" && ticket.faultCode == "BEARING_OVERTEMP")
        #expect(ticket.grade == .urgent && ticket.source == .predictive && ticket.occurrences == 1)
        #expect(ticket.profileID == "test-pump" && ticket.profileVersion == 3 && ticket.detector == "threshold")
        let detection = try #require(try site.store().detections(ticketID: ticket.id).first)
        #expect(detection.evidence.map(\.value) == [60, 61, 97, 97, 97])
        #expect(try site.store().auditRecords(ticketID: ticket.id).map(\.action) == ["ticket.opened"])

        // 2. Clears (below 75 for 2 s), then rises again → same ticket, two occurrences.
        try await site.publish([70, 70, 70, 99, 99, 99], start: t0 + 6000)
        #expect(await eventually { (try? site.store().tickets().first?.occurrences) == 2 })
        #expect(try site.store().tickets().count == 1)

        // 3. Malformed input on the live gateway: rejected, counted, dead-lettered; the gateway keeps going.
        try site.publisher.publish(topic: "fieldwatch/site-a/pump-1/telemetry", payload: "{not json", qos: 1)
        try site.publisher.publish(topic: "fieldwatch/site-a/pump-1/telemetry", payload: #"{"metrics": {"bearing_temp": NaN}}"#, qos: 1)
        #expect(await eventually { running.gateway.pipeline.counters.rejects == [.malformedJSON: 1, .nonFiniteValue: 1] })
        let deadLetters = try String(contentsOfFile: site.configuration.deadLetterFile!, encoding: .utf8)
        #expect(deadLetters.contains("\"reason\":\"malformed_json\"") && deadLetters.contains("\"reason\":\"non_finite_value\""))

        // 3b. The same figures on /metrics, in the Prometheus text format.
        let port = try #require(running.gateway.api?.boundPort)
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        let metrics = String(decoding: data, as: UTF8.self)
        for line in ["fieldwatch_rejects_total{reason=\"malformed_json\"} 1", "fieldwatch_rejects_total{reason=\"non_finite_value\"} 1",
                     "fieldwatch_tickets_open{grade=\"urgent\"} 1.0", "fieldwatch_samples_accepted_total 12", "fieldwatch_mqtt_connected 1.0",
                     "# TYPE fieldwatch_mqtt_messages_total counter", "# TYPE fieldwatch_outbox_backlog gauge", "fieldwatch_wal_checkpoint_failures_total 0", "fieldwatch_sla_breached_open 0.0"] {
            #expect(metrics.contains(line), "\(line) missing from:\n\(metrics)")
        }
        // The desk's commit delays as a histogram: one observation per committed detection.
        let committed = running.gateway.desk.counters.committed
        #expect(committed >= 2)
        for line in ["# TYPE fieldwatch_desk_commit_delay_seconds histogram", "fieldwatch_desk_commit_delay_seconds_count \(committed)",
                     "fieldwatch_desk_commit_delay_seconds_bucket{le=\"+Inf\"} \(committed)"] {
            #expect(metrics.contains(line), "\(line) missing from:\n\(metrics)")
        }
        // A second scrape reports the same totals: counters advance by what happened, not by scrapes.
        let (again, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        #expect(String(decoding: again, as: UTF8.self).contains("fieldwatch_samples_accepted_total 12"))

        // 4. Gateway stopped; telemetry published meanwhile (clear, then critical again) is queued by the broker.
        try await running.stop()
        try await site.publish([70, 70, 70, 99, 99, 99], start: t0 + 12_000)

        // 5. Restarted with the same client id: the queued telemetry arrives; still one ticket.
        running = try await RunningGateway(site.configuration)
        #expect(await eventually { running.gateway.pipeline.counters.samplesAccepted == 6 })
        #expect(await eventually { (try? site.store().tickets().first?.occurrences) == 3 })
        let tickets = try site.store().tickets()
        #expect(tickets.count == 1)
        #expect(tickets.first?.id == ticket.id)
        try await running.stop()
    }

    @Test func aBrokerRestartDoesNotStopTheGateway() async throws {
        let site = try await Site()
        let running = try await RunningGateway(site.configuration)
        let t0 = Timestamp.now().milliseconds - 60_000
        try await site.publish([99, 99, 99], start: t0)
        #expect(await eventually { (try? site.store().tickets().count) == 1 })
        // The broker goes away and comes back (without persistence: sessions are lost too).
        site.broker.kill9()
        try site.broker.start()
        #expect(await eventually(timeout: .seconds(30)) { running.gateway.ingest.client.counters.connects >= 2 && running.gateway.ingest.client.isConnected })
        #expect(await eventually(timeout: .seconds(30)) { site.publisher.counters.connects >= 2 && site.publisher.isConnected })
        try await Task.sleep(for: .milliseconds(300))
        // The gateway resubscribed: new telemetry reaches it and adds to the same ticket.
        try await site.publish([70, 70, 70, 99, 99, 99], start: t0 + 3000)
        #expect(await eventually { (try? site.store().tickets().first?.occurrences) == 2 })
        #expect(try site.store().tickets().count == 1)
        try await running.stop()
    }

    /// With no notification destination and no HTTP API, every service still runs until shutdown
    /// (a service that returned early used to stop the whole gateway at start).
    @Test func aGatewayWithoutDestinationsOrHTTPKeepsRunning() async throws {
        let site = try await Site()
        var c = site.configuration
        c.publishEvents = false
        c.webhooks = []
        c.http = nil
        let running = try await RunningGateway(c)
        try await Task.sleep(for: .milliseconds(500))
        try await site.publish([99, 99, 99], start: Timestamp.now().milliseconds - 60_000)
        #expect(await eventually { (try? site.store().tickets().count) == 1 })
        try await running.stop()
    }

    /// Different devices get different tickets; a second fault on the same device within the
    /// policy's correlation window (default 10 min) joins that device's ticket as a symptom.
    @Test func ticketsOfDifferentDevicesAreSeparateAndOneDevicesSymptomsGroup() async throws {
        let site = try await Site()
        let running = try await RunningGateway(site.configuration)
        let t0 = Timestamp.now().milliseconds - 60_000
        try await site.publish([99, 99, 99], start: t0, device: "pump-1")
        try await site.publish([99, 99, 99], start: t0, device: "pump-2")
        // discharge_pressure below 2 bar with min_duration 0 → a second fault on pump-1.
        try site.publisher.publish(topic: "fieldwatch/site-a/pump-1/telemetry", payload: #"{"ts": \#(t0 + 5000), "metrics": {"discharge_pressure": 1.2}}"#)
        #expect(await eventually { (try? site.store().tickets().first { $0.device == "pump-1" }?.occurrences) == 2 })
        let tickets = try site.store().tickets()
        #expect(Set(tickets.map { "\($0.device)/\($0.faultCode)" }) == ["pump-1/BEARING_OVERTEMP", "pump-2/BEARING_OVERTEMP"])
        let pump1 = try #require(tickets.first { $0.device == "pump-1" })
        #expect(try site.store().auditRecords(ticketID: pump1.id).contains { $0.action == "ticket.symptom_added" && $0.detail.contains("DISCHARGE_PRESSURE_LOW") })
        try await running.stop()
    }
}

@Suite("Gateway start-up validation")
struct StartupValidationTests {
    @Test func configurationFileErrorsNameTheKey() {
        #expect {
            _ = try GatewayConfiguration.parse("brokr: mqtt://x\nring_capacity: lots\n", file: "fw.yaml")
        } throws: { error in
            (error as? ConfigurationError)?.problems == [
                "fw.yaml:2:16: ring_capacity: expected a whole number (samples per series), found \"lots\"",
                "fw.yaml:1:1: brokr: unknown field (did you mean \"broker\"?); remove it or check the spelling in DeviceProfiles/README.md",
            ]
        }
    }

    @Test func invalidValuesAreAllReported() {
        var c = GatewayConfiguration()
        c.broker = "tcp://host"
        c.ringCapacity = 2
        c.historyKiB = -1
        c.password = "secret"
        #expect {
            try c.validate()
        } throws: { error in
            (error as? ConfigurationError)?.problems == [
                "broker: broker URL \"tcp://host\": expected mqtt://HOST:PORT, e.g. mqtt://127.0.0.1:1883",
                "password: set without username; give both or neither",
                "ring_capacity: 2 is outside 16...1048576 samples per series",
                "history_kib: -1 is outside 0...65536 KiB per series (0 keeps no history)",
            ]
        }
    }

    @Test func environmentOverridesTheFile() async throws {
        var c = try GatewayConfiguration.parse("broker: mqtt://a:1\ndatabase: /tmp/a.db\n", file: "fw.yaml")
        try c.applyEnvironment(["FIELDWATCH_BROKER": "mqtt://b:2", "FIELDWATCH_RING_CAPACITY": "512", "FIELDWATCH_DEAD_LETTER_FILE": "off",
                                "FIELDWATCH_HISTORY_KIB": "64"])
        #expect(c.broker == "mqtt://b:2" && c.database == "/tmp/a.db" && c.ringCapacity == 512 && c.deadLetterFile == nil && c.historyKiB == 64)
        #expect(throws: ConfigurationError.self) { try c.applyEnvironment(["FIELDWATCH_EVIDENCE_WINDOW": "soon"]) }
    }

    @Test func anInventoryNamingAnUnknownProfileStopsStartUp() async throws {
        let directory = try makeTemporaryDirectory()
        let (profiles, inventory) = try Fixtures.writeSite(in: directory)
        try Fixtures.inventory.replacingOccurrences(of: "profile: test-pump\n", with: "profile: chiller\n")
            .write(toFile: inventory, atomically: true, encoding: .utf8)
        var c = GatewayConfiguration()
        c.profiles = profiles
        c.inventory = inventory
        c.database = directory.appendingPathComponent("x.db").path
        #expect {
            _ = try Gateway(configuration: c)
        } throws: { error in
            (error as? ConfigurationError)?.problems == [
                "\(inventory):11:14: devices[0].profile: unknown profile \"chiller\"; known profiles: test-pump",
            ]
        }
        #expect(!FileManager.default.fileExists(atPath: c.database), "nothing is created when start-up is refused")
    }
}
