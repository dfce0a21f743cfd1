import FieldwatchCore
import FieldwatchTesting
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Gateway
import Logging
import MQTT
import Storage
import Synchronization
import Testing
import TimeSeries

/// Keeps every log line, so a test can check what the operator is told.
struct CapturingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .info

    func log(event: LogEvent) { lines.append(event.level, "\(event.message)") }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}

final class LogLines: Sendable {
    private let lines = Mutex<[(Logger.Level, String)]>([])
    func append(_ level: Logger.Level, _ line: String) { lines.withLock { $0.append((level, line)) } }
    func containing(_ text: String, level: Logger.Level) -> [String] {
        lines.withLock { $0.filter { $0.0 == level && $0.1.contains(text) }.map(\.1) }
    }
    var logger: Logger { Logger(label: "test.gateway") { _ in CapturingLogHandler(lines: self) } }
}

@Suite("Rings and history across a gateway restart")
struct SeriesCheckpointGatewayTests {
    static let pump1 = SeriesKey(device: "pump-1", sensor: "bearing_temp")
    static let pump2 = SeriesKey(device: "pump-2", sensor: "bearing_temp")

    static func everything(_ gateway: Gateway, _ key: SeriesKey) -> [Sample] {
        gateway.series.range(key, from: Timestamp(milliseconds: 0), to: Timestamp(milliseconds: .max))
    }

    /// `count` readings a minute apart, ending ten minutes ago: hours of sample time, so the
    /// 2-hour history blocks close.
    static func readings(_ count: Int, device: String) -> [MQTTMessage] {
        let t0 = Timestamp.now().milliseconds - Int64(count) * 60_000 - 600_000
        return (0..<count).map { i in
            MQTTMessage(topic: "fieldwatch/site-a/\(device)/telemetry",
                        payload: Array(#"{"ts": \#(t0 + Int64(i) * 60_000), "metrics": {"bearing_temp": \#(50 + Double(i % 13) * 0.5)}}"#.utf8))
        }
    }

    @Test func ringsAndHistorySurviveAGracefulRestartAndFollowTheConfiguration() async throws {
        let site = try await Site()
        var c = site.configuration
        c.ringCapacity = 64
        c.historyKiB = 4

        // 1. Six hours of readings of two pumps, a checkpoint after five, then a graceful stop.
        //    The 60 s checkpoint interval never comes: only the save on shutdown keeps the last hour.
        let first = try await RunningGateway(c)
        #expect(first.gateway.seriesRestore == nil)
        let readings = ["pump-1", "pump-2"].map { Self.readings(360, device: $0) }
        func publish(_ range: Range<Int>) async throws {
            for device in readings {
                for m in device[range] { try site.publisher.publish(topic: m.topic, payload: String(decoding: m.payload, as: UTF8.self), qos: 1) }
            }
            #expect(await site.publisher.waitUntilPublished())
            #expect(await eventually { first.gateway.pipeline.counters.samplesAccepted == 2 * range.upperBound })
        }
        try await publish(0..<300)
        #expect(await first.gateway.seriesCheckpoints.save())
        #expect(first.gateway.seriesCheckpoints.counters.lastBlocksAdded > 0)

        let port = try #require(first.gateway.api?.boundPort)
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        let metrics = String(decoding: data, as: UTF8.self)
        for line in ["fieldwatch_series_checkpoints_total 1", "fieldwatch_series_checkpoint_failures_total 0",
                     "# TYPE fieldwatch_series_checkpoint_bytes gauge", "# TYPE fieldwatch_series_checkpoint_duration_seconds gauge",
                     "# TYPE fieldwatch_history_bytes gauge"] {
            #expect(metrics.contains(line), "\(line) missing from:\n\(metrics)")
        }
        try await publish(300..<360)
        let before = [Self.pump1: Self.everything(first.gateway, Self.pump1), Self.pump2: Self.everything(first.gateway, Self.pump2)]
        #expect(before[Self.pump1]!.count > 64 + 100, "history behind the ring: \(before[Self.pump1]!.count)")
        try await first.stop()
        #expect(first.gateway.seriesCheckpoints.counters.saved == 2 && first.gateway.seriesCheckpoints.counters.failures == 0)
        #expect(try !site.store().savedSeriesBlockIDs().isEmpty)

        // 2. A new gateway on the same database has every sample back, before any message.
        let lines = LogLines()
        let second = try Gateway(configuration: c, logger: lines.logger)
        let restored = try #require(second.seriesRestore)
        #expect(restored.series == 2 && restored.unknownSeries == 0 && restored.trimmedSamples == 0)
        #expect(restored.samples == before.values.reduce(0) { $0 + $1.count })
        for (key, samples) in before { #expect(Self.everything(second, key) == samples) }
        #expect(lines.containing("restored \(restored.samples) samples of 2 series", level: .info).count == 1)

        // 3. A smaller ring, no history, and pump-2 gone from the inventory: the newest 16
        //    samples of pump-1 only, and one line that says so.
        try Fixtures.inventory.replacingOccurrences(of: "\n  - id: pump-2\n    site: site-a\n    profile: test-pump", with: "")
            .write(toFile: c.inventory, atomically: true, encoding: .utf8)
        var smaller = c
        smaller.ringCapacity = 16
        smaller.historyKiB = 0
        smaller.checkpointInterval = .seconds(1)
        let lines3 = LogLines()
        let third = try await RunningGateway(smaller, logger: lines3.logger)
        let trimmed = try #require(third.gateway.seriesRestore)
        #expect(trimmed.series == 1 && trimmed.unknownSeries == 1 && trimmed.samples == 16)
        #expect(trimmed.trimmedSamples == before[Self.pump1]!.count - 16)
        #expect(Self.everything(third.gateway, Self.pump1) == Array(before[Self.pump1]!.suffix(16)))
        #expect(Self.everything(third.gateway, Self.pump2).isEmpty)
        #expect(lines3.containing("1 series dropped because their device or sensor is no longer in the inventory", level: .info).count == 1)
        // The periodic saves run too.
        #expect(await eventually { third.gateway.seriesCheckpoints.counters.saved >= 1 })
        try await third.stop()
        // The blocks nobody keeps any more are deleted by the next save.
        #expect(try site.store().savedSeriesBlockIDs().isEmpty)
    }

    @Test func aKillAfterACheckpointLosesOnlyWhatCameAfterIt() async throws {
        let site = try await Site()
        var c = site.configuration
        c.ringCapacity = 16
        c.historyKiB = 4
        // Built, not run: no service group, so no save but the one called below, as after a kill -9.
        let first = try Gateway(configuration: c, logger: Logger(label: "test.gateway"))
        let readings = Self.readings(300, device: "pump-1")
        for m in readings.prefix(200) { first.pipeline.handle(m) }
        let atCheckpoint = Self.everything(first, Self.pump1)
        #expect(await first.seriesCheckpoints.save())
        let k = first.seriesCheckpoints.counters
        #expect(k.lastBlocksAdded > 0 && k.lastBlocksRemoved == 0)
        // Sealed blocks are written once: a save with nothing new sealed rewrites only the recent part.
        #expect(await first.seriesCheckpoints.save())
        #expect(first.seriesCheckpoints.counters.lastBlocksAdded == 0 && first.seriesCheckpoints.counters.lastBytes! < k.lastBytes!)
        for m in readings.suffix(100) { first.pipeline.handle(m) }
        #expect(Self.everything(first, Self.pump1).count > atCheckpoint.count)

        let second = try Gateway(configuration: c, logger: Logger(label: "test.gateway"))
        #expect(second.seriesRestore?.samples == atCheckpoint.count)
        #expect(Self.everything(second, Self.pump1) == atCheckpoint)
    }

    @Test func anUnreadableSnapshotIsLoggedAndTheGatewayStartsEmpty() async throws {
        let site = try await Site()
        let recent = Data("FWSS".utf8) + Data([1, 0, 1, 0, 0, 0, 6, 0]) + Data("pump-1".utf8)
        try await site.store().saveSeriesHistory(recent: recent, at: .now(), adding: [], removing: [])
        let lines = LogLines()
        let gateway = try Gateway(configuration: site.configuration, logger: lines.logger)
        #expect(gateway.seriesRestore == nil)
        #expect(gateway.series.seriesCount == 0)
        let warnings = lines.containing("cannot restore the saved series history", level: .warning)
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("the saved series end in the sensor of series 1 of 1") == true, "\(warnings)")

        // And a format from a newer version is named as such.
        try await site.store().saveSeriesHistory(recent: Data("FWSS".utf8) + Data([9, 0, 0, 0, 0, 0]), at: .now(), adding: [], removing: [])
        let newer = LogLines()
        _ = try Gateway(configuration: site.configuration, logger: newer.logger)
        #expect(newer.containing("the saved series have format 9; this version reads format 1 only", level: .warning).count == 1)
    }
}
