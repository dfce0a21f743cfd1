import FieldwatchCore
import FieldwatchTesting
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Gateway
import ServiceDesk
import Storage
import Testing

@Suite("MTBF on operating hours, from the counters devices send")
struct OperatingHoursGatewayTests {
    static let runHours = """
          - key: run_hours
            name: Operating hours
            unit: h
            kind: counter
            range: { min: 0, max: 1000000 }
        faults:
        """

    @Test func runHoursCountersBecomeOperatingHoursThatSurviveARestartAndGiveMTBF() async throws {
        let site = try await Site()
        try Fixtures.pumpProfile.replacingOccurrences(of: "faults:\n", with: Self.runHours + "\n")
            .write(toFile: site.configuration.profiles + "/test-pump.yaml", atomically: true, encoding: .utf8)
        var c = site.configuration
        c.checkpointInterval = .seconds(1)
        let now = Timestamp.now().milliseconds
        func counter(_ value: Double, minutesAgo: Int64) async throws {
            try site.publisher.publish(topic: "fieldwatch/site-a/pump-1/telemetry",
                                       payload: #"{"ts": \#(now - minutesAgo * 60_000), "metrics": {"run_hours": \#(value)}}"#, qos: 1)
            #expect(await site.publisher.waitUntilPublished())
        }

        let first = try await RunningGateway(c)
        let hours = try #require(first.gateway.checkpoints.operatingHours)
        #expect(hours.devices == 2, "both pumps of the test profile have a counter")
        try await counter(1000, minutesAgo: 120)
        #expect(await eventually { hours.counters.saves >= 1 }, "the first reading is the baseline")
        try await counter(1001.5, minutesAgo: 30)
        #expect(await eventually { hours.counters.hoursCounted == 1.5 })
        let port = try #require(first.gateway.api?.boundPort)
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        #expect(String(decoding: data, as: UTF8.self).contains("fieldwatch_operating_hours_counted 1.5"))
        // A failure of pump-1: the bearing overheats.
        try await site.publish([96, 96, 96, 96], start: now - 10_000)
        #expect(await eventually { (try? site.store().tickets().count) == 1 })
        try await first.stop()

        // After a restart the stored reading is the baseline: the next hour counts.
        let second = try await RunningGateway(c)
        try await counter(1002.5, minutesAgo: 1)
        #expect(await eventually { second.gateway.checkpoints.operatingHours?.counters.hoursCounted == 1 })
        try await second.stop()

        let store = try site.store()
        let from = Timestamp(milliseconds: now - 86_400_000), to = Timestamp(milliseconds: now + 3_600_000)
        let ran = try SQLiteOperatingHoursStore(store).operatingHours(from: from, to: to)
        #expect(ran.count == 1 && abs(ran[0].hours - 2.5) < 1e-9 && ran[0].device == "pump-1" && ran[0].profile == "test-pump")
        let kpis = ServiceKPIs.compute(try store.kpiRecords(from: from, to: to), from: from, to: to, now: .now(), operatingHours: ran)
        let pump = try #require(kpis.mtbfHours.first { $0.fault == nil })
        #expect(pump.failures == 1 && abs((pump.hours ?? 0) - 2.5) < 1e-9)
        #expect(kpis.mtbfHours.contains { $0.fault == "BEARING_OVERTEMP" && $0.failures == 1 })
    }
}
