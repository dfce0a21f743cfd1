import FieldwatchCore
import FieldwatchTesting
import Foundation
import Testing
import TimeSeries
@testable import Ingest
import MQTT
import Profiles

@Suite("Device clocks ahead of the gateway")
struct DeviceClockTests {
    static let now = PipelineFixture.now
    static let key = SeriesKey(device: "pump-1", sensor: "bearing_temp")

    static func pipeline(_ store: SeriesStore) throws -> IngestPipeline {
        let profiles = ["test-pump": try ProfileLoader.parse(Fixtures.pumpProfile, file: "test-pump.yaml")]
        let inventory = try Inventory.parse(Fixtures.inventory, file: "inventory.yaml", profiles: profiles)
        return IngestPipeline(inventory: inventory, profiles: profiles, store: store, deadLetters: DeadLetterFile(path: nil),
                              now: { DeviceClockTests.now }, sink: { _ in })
    }

    static func send(_ p: IngestPipeline, at ms: Int64, _ value: Double = 55) -> IngestPipeline.Outcome {
        p.handle(MQTTMessage(topic: "fieldwatch/site-a/pump-1/telemetry", payload: Array(#"{"ts": \#(ms), "metrics": {"bearing_temp": \#(value)}}"#.utf8),
                             receivedAt: now.date))
    }

    @Test func aReadingDatedHoursAheadTakesTheGatewaysTimeAndDoesNotBlindTheSensor() throws {
        let store = SeriesStore(configuration: .init(capacity: 64, lateTolerance: .seconds(5)))
        let p = try Self.pipeline(store)
        // A device whose clock jumped 23 hours ahead, then was corrected.
        let ahead = Self.now.milliseconds + 23 * 3_600_000
        let first = Self.send(p, at: ahead)
        #expect(first.accepted == 1 && first.restamped == Timestamp(milliseconds: ahead))
        #expect(store.latest(Self.key)?.timestamp == Self.now, "the series' clock did not jump ahead")
        // Correct readings that follow are accepted; before, they were all refused as too late.
        let next = Self.send(p, at: Self.now.milliseconds - 1000, 56)
        #expect(next.accepted == 1 && next.rejected.isEmpty && next.restamped == nil)
        // Within the late tolerance a device time ahead is kept as it is.
        let close = Self.send(p, at: Self.now.milliseconds + 3000, 57)
        #expect(close.restamped == nil && store.latest(Self.key)?.timestamp == Timestamp(milliseconds: Self.now.milliseconds + 3000))
        #expect(p.counters.clockAhead == 1 && p.counters.totalRejects == 0)
        // Beyond max_future_skew (24 h) it is an absurd time, refused as before.
        #expect(Self.send(p, at: Self.now.milliseconds + 25 * 3_600_000).rejected.first?.reason == .futureTimestamp)
    }

    @Test func samplesSavedFromTheFutureAreLeftOutOnRestore() throws {
        let saved = SeriesStore(configuration: .init(capacity: 64))
        for i in 0..<10 { saved.append(Sample(timestamp: Timestamp(milliseconds: Self.now.milliseconds - 10_000 + Int64(i) * 1000), value: 1), to: Self.key) }
        saved.append(Sample(timestamp: Timestamp(milliseconds: Self.now.milliseconds + 3_600_000), value: 1), to: Self.key)
        let restored = SeriesStore(configuration: .init(capacity: 64))
        let r = restored.restore(saved.snapshot(), notAfter: Self.now + .seconds(5))
        #expect(r.samples == 10 && r.futureSamples == 1 && r.trimmedSamples == 0)
        #expect(restored.latest(Self.key)?.timestamp == Timestamp(milliseconds: Self.now.milliseconds - 1000))
    }
}
