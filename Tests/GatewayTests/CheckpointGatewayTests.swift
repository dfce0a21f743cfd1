import FieldwatchCore
import FieldwatchTesting
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Gateway
import Logging
import MQTT
import ServiceDesk
import Storage
import Testing

@Suite("Detector state across a gateway restart")
struct GatewayCheckpointTests {
    @Test func aConditionHeldBeforeARestartRaisesWhenItHasHeldLongEnoughAfterIt() async throws {
        let site = try await Site()
        // bearing_temp must stay beyond its critical limit (95) for 60 s of sample time.
        try Fixtures.pumpProfile.replacingOccurrences(of: "min_duration: 2s", with: "min_duration: 60s")
            .write(toFile: site.configuration.profiles + "/test-pump.yaml", atomically: true, encoding: .utf8)
        let t0 = Timestamp.now().milliseconds - 600_000
        /// 97 °C on pump-1 at these seconds after t0: sample time passes by the payload's `ts`.
        func publishHot(at seconds: [Int64]) async throws {
            for s in seconds {
                try site.publisher.publish(topic: "fieldwatch/site-a/pump-1/telemetry",
                                           payload: #"{"ts": \#(t0 + s * 1000), "metrics": {"bearing_temp": 97}}"#, qos: 1)
            }
            #expect(await site.publisher.waitUntilPublished())
        }

        // 1. Held for 30 s, then a graceful stop. The 60 s checkpoint interval never comes:
        //    only the save on shutdown can keep the timer.
        let first = try await RunningGateway(site.configuration)
        #expect(first.gateway.detectorRestore == nil)
        try await publishHot(at: [0, 10, 20, 30])
        #expect(await eventually { first.gateway.pipeline.counters.samplesAccepted == 4 })
        try await first.stop()
        #expect(first.gateway.checkpoints.counters.saved == 1)
        #expect(try site.store().detectorCheckpoint() != nil)
        #expect(try site.store().tickets().isEmpty)

        // 2. A new gateway on the same database resumes the timer: the raise comes at 60 s,
        //    counted from t0. A fresh detector would start at 40 s and need until 100 s.
        var c = site.configuration
        c.checkpointInterval = .seconds(1)
        let second = try await RunningGateway(c)
        let restored = try #require(second.gateway.detectorRestore)
        #expect(restored.restored >= 1 && restored.discarded == 0 && restored.unknownSeries == 0)
        try await publishHot(at: [40, 50, 60, 70])
        #expect(await eventually { (try? site.store().tickets().count) == 1 })
        let ticket = try #require(try site.store().tickets().first)
        #expect(ticket.faultCode == "BEARING_OVERTEMP" && ticket.occurrences == 1)
        let detection = try #require(try site.store().detections(ticketID: ticket.id).first)
        #expect(detection.detectedAt == Timestamp(milliseconds: t0 + 60_000))
        #expect(detection.conditionSince == Timestamp(milliseconds: t0))

        // 3. The periodic saves, on /metrics.
        #expect(await eventually { second.gateway.checkpoints.counters.saved >= 1 })
        let port = try #require(second.gateway.api?.boundPort)
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        let metrics = String(decoding: data, as: UTF8.self)
        for line in ["# TYPE fieldwatch_detector_checkpoints_total counter", "fieldwatch_detector_checkpoint_failures_total 0",
                     "# TYPE fieldwatch_detector_checkpoint_bytes gauge", "# TYPE fieldwatch_detector_checkpoint_duration_seconds gauge"] {
            #expect(metrics.contains(line), "\(line) missing from:\n\(metrics)")
        }
        try await second.stop()
    }

    @Test func aCheckpointWaitsUntilTheDeskHasStoredWhatItsDetectorsRaised() async throws {
        let site = try await Site()
        // Built, not run: the desk commits only when drained by hand below.
        let gateway = try Gateway(configuration: site.configuration, logger: Logger(label: "test.gateway"))
        let checkpoints = DetectorCheckpointService(pipeline: gateway.pipeline, desk: gateway.desk, store: gateway.store, commitWait: .zero)
        let t0 = Timestamp.now().milliseconds - 60_000
        for s: Int64 in [0, 1, 2] {
            gateway.pipeline.handle(MQTTMessage(topic: "fieldwatch/site-a/pump-1/telemetry",
                                                payload: Array(#"{"ts": \#(t0 + s * 1000), "metrics": {"bearing_temp": 97}}"#.utf8)))
        }
        #expect(gateway.desk.pendingCount == 1)
        // The detector has raised but its ticket is not stored: a checkpoint now could, after a
        // crash, restore a raised detector whose ticket never existed. It is put off.
        #expect(await checkpoints.save() == false)
        #expect(checkpoints.counters.failures == 1 && checkpoints.counters.saved == 0)
        #expect(try gateway.store.detectorCheckpoint() == nil)

        await gateway.desk.drain()
        #expect(try gateway.store.tickets().count == 1)
        #expect(await checkpoints.save())
        #expect(checkpoints.counters.saved == 1 && (checkpoints.counters.lastBytes ?? 0) > 0)
        #expect(try gateway.store.detectorCheckpoint() != nil)
    }

    @Test func anUnreadableCheckpointIsNoReasonToRefuseToStart() async throws {
        let site = try await Site()
        try await site.store().saveDetectorCheckpoint(Data("not a checkpoint".utf8), at: .now())
        let gateway = try Gateway(configuration: site.configuration, logger: Logger(label: "test.gateway"))
        #expect(gateway.detectorRestore == nil)
    }

    @Test func theCheckpointIntervalIsConfiguredAndValidated() throws {
        #expect(GatewayConfiguration().checkpointInterval == .seconds(60))
        var c = try GatewayConfiguration.parse("checkpoint_interval: 5m\n", file: "fw.yaml")
        #expect(c.checkpointInterval == .seconds(300))
        try c.applyEnvironment(["FIELDWATCH_CHECKPOINT_INTERVAL": "10s"])
        #expect(c.checkpointInterval == .seconds(10))
        c.checkpointInterval = .milliseconds(500)
        #expect {
            try c.validate()
        } throws: { error in
            (error as? ConfigurationError)?.problems == ["checkpoint_interval: must be between 1s and 1h; a kill -9 loses up to this much detector state"]
        }
        #expect(throws: ConfigurationError.self) { try GatewayConfiguration.parse("checkpoint_interval: often\n", file: "fw.yaml") }
    }
}
