import FieldwatchCore
import FieldwatchTesting
import Foundation
import Testing
@testable import Storage

@Suite("Operating hours from run-hours counters")
struct OperatingHoursStoreTests {
    static let hour: Int64 = 3_600_000
    /// 2026-11-01 00:00 UTC.
    static let t0 = Timestamp(milliseconds: 1_793_491_200_000)
    static func at(hours: Double) -> Timestamp { Timestamp(milliseconds: t0.milliseconds + Int64(hours * Double(hour))) }
    static func reading(_ device: String, _ value: Double, hours: Double, profile: String = "centrifugal-pump") -> CounterReading {
        CounterReading(device: DeviceID(device), site: "site-a", profile: profile, sensor: "run_hours", value: value, at: at(hours: hours))
    }

    @Test func stepsBetweenReadings() {
        let p = (value: 100.0, at: Self.t0)
        #expect(CounterStep.between(previous: nil, current: (100, Self.t0)) == .first)
        #expect(CounterStep.between(previous: p, current: (101, Self.t0)) == .stale, "same time: a replay")
        #expect(CounterStep.between(previous: p, current: (100.5, Self.at(hours: 0.5))) == .counted(0.5))
        #expect(CounterStep.between(previous: p, current: (100, Self.at(hours: 2))) == .counted(0), "stopped: the counter stands still")
        // A counter in whole hours read a minute after it ticked.
        #expect(CounterStep.between(previous: p, current: (101, Self.at(hours: 1.0 / 60))) == .counted(1))
        #expect(CounterStep.between(previous: p, current: (3, Self.at(hours: 10))) == .reset(counted: 3))
        #expect(CounterStep.between(previous: p, current: (50, Self.at(hours: 10))) == .reset(counted: 10), "never more than the time elapsed")
        #expect(CounterStep.between(previous: p, current: (600, Self.at(hours: 1))) == .jump(500))
    }

    @Test func hoursAreSpreadOverTheGapAndSurviveARestart() throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("fieldwatch.db").path
        do {
            let hours = SQLiteOperatingHoursStore(try TicketStore(path: path))
            var u = try hours.record([Self.reading("pump-1", 1000, hours: 0.5)])
            #expect(u.baselines == 1 && u.counted == 0)
            u = try hours.record([Self.reading("pump-1", 1002, hours: 2.5)])
            #expect(u.counted == 2)
            u = try hours.record([Self.reading("pump-1", 1002, hours: 2.5)])
            #expect(u.stale == 1 && u.counted == 0, "the same reading again counts nothing")
        }
        // A restart (or kill -9): the stored reading is the baseline, nothing is lost.
        let hours = SQLiteOperatingHoursStore(try TicketStore(path: path))
        let u = try hours.record([Self.reading("pump-1", 1003, hours: 3.5), Self.reading("pump-2", 50, hours: 3.5)])
        #expect(u.counted == 1 && u.baselines == 1)
        func ran(_ from: Double, _ to: Double) throws -> Double {
            try hours.operatingHours(from: Self.at(hours: from), to: Self.at(hours: to)).reduce(0) { $0 + $1.hours }
        }
        #expect(try ran(0, 24) == 3)
        #expect(try ran(0, 1) == 0.5, "half an hour of the first gap falls in 00:00–01:00")
        #expect(try ran(1, 2) == 1)
        #expect(abs(try ran(2, 3) - 1) < 1e-9, "02:00–02:30 of the first gap and 02:30–03:00 of the one after the restart")
        #expect(abs(try ran(3, 4) - 0.5) < 1e-9)
        let rows = try hours.operatingHours(from: Self.t0, to: Self.at(hours: 24))
        #expect(rows.map(\.device) == ["pump-1"], "a device with only a baseline ran nothing yet")
        #expect(rows.first?.profile == "centrifugal-pump" && rows.first?.site == "site-a")
    }

    @Test func resetsCountFromZeroAndJumpsAreNotCounted() throws {
        let hours = SQLiteOperatingHoursStore(try TicketStore(path: try makeTemporaryDirectory().appendingPathComponent("fieldwatch.db").path))
        _ = try hours.record([Self.reading("pump-1", 1000, hours: 0)])
        var u = try hours.record([Self.reading("pump-1", 4, hours: 10)])
        #expect(u.resets == ["pump-1"] && abs(u.counted - 4) < 1e-9)
        u = try hours.record([Self.reading("pump-1", 900, hours: 11)])
        #expect(u.jumps == ["pump-1"] && u.counted == 0)
        u = try hours.record([Self.reading("pump-1", 901, hours: 12)])
        #expect(u.counted == 1, "the jumped value is the new baseline")
        let total = try hours.operatingHours(from: Self.t0, to: Self.at(hours: 24)).map(\.hours)
        #expect(total.count == 1 && abs(total[0] - 5) < 1e-9)
    }
}
