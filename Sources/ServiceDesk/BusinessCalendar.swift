import FieldwatchCore
import Foundation

/// Working time in one time zone: weekly opening windows (several per day, for split shifts)
/// minus holidays, or round the clock. SLA targets are counted in working time on a
/// calendar, so "2 h" on an office calendar that opens at 08:30 on Monday means 10:30 for a
/// fault reported on Saturday night.
///
/// Local times are turned into instants by Foundation's calendar in the calendar's time
/// zone, day by day, so a DST change shortens or lengthens that day's windows as the wall
/// clock does.
public struct BusinessCalendar: Sendable, Equatable {
    /// One opening window, in minutes after local midnight; `end` may be 1440 (midnight).
    public struct Window: Sendable, Equatable, Comparable {
        public var start: Int
        public var end: Int
        public init(start: Int, end: Int) {
            self.start = start
            self.end = end
        }
        public static func < (a: Window, b: Window) -> Bool { a.start < b.start }
        public var description: String {
            func hm(_ m: Int) -> String { String(format: "%02d:%02d", m / 60, m % 60) }
            return "\(hm(start))-\(hm(end))"
        }
    }

    /// nil: round the clock, every day.
    public var weekly: [Int: [Window]]?
    /// Local dates (YYYY-MM-DD) with no working time.
    public var holidays: Set<String>
    public var timeZone: TimeZone

    public static func always(in timeZone: TimeZone = TimeZone(identifier: "UTC")!) -> BusinessCalendar {
        BusinessCalendar(weekly: nil, holidays: [], timeZone: timeZone)
    }

    /// - Parameter weekly: windows per weekday, 1 = Sunday … 7 = Saturday (Foundation's numbering).
    public init(weekly: [Int: [Window]]?, holidays: Set<String>, timeZone: TimeZone) {
        self.weekly = weekly?.mapValues { $0.sorted() }
        self.holidays = holidays
        self.timeZone = timeZone
    }

    public var isAlways: Bool { weekly == nil && holidays.isEmpty }

    private var calendar: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone
        return c
    }

    /// The working intervals of the local day that contains `instant`, and that day's start.
    private func day(containing instant: Date, _ cal: Calendar) -> (start: Date, next: Date, intervals: [(Date, Date)]) {
        let start = cal.startOfDay(for: instant)
        let next = cal.date(byAdding: .day, value: 1, to: start)!
        let parts = cal.dateComponents([.year, .month, .day, .weekday], from: start)
        let key = String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
        if holidays.contains(key) { return (start, next, []) }
        guard let weekly else { return (start, next, [(start, next)]) }
        let windows = weekly[parts.weekday!] ?? []
        let intervals = windows.map { w -> (Date, Date) in
            func at(_ minute: Int) -> Date {
                if minute >= 1440 { return next }
                var c = DateComponents(year: parts.year, month: parts.month, day: parts.day, hour: minute / 60, minute: minute % 60)
                c.timeZone = timeZone
                return cal.date(from: c) ?? start
            }
            return (at(w.start), at(w.end))
        }
        return (start, next, intervals.filter { $0.0 < $0.1 })
    }

    /// Working milliseconds between two instants (0 when `to` is not after `from`).
    public func workingTime(from: Timestamp, to: Timestamp) -> Int64 {
        guard to > from else { return 0 }
        if weekly == nil && holidays.isEmpty { return to.milliseconds - from.milliseconds }
        let cal = calendar
        let end = to.date
        var cursor = from.date
        var total: Int64 = 0
        while cursor < end {
            let d = day(containing: cursor, cal)
            for (a, b) in d.intervals {
                let lo = max(a, cursor), hi = min(b, end)
                if hi > lo { total += Int64((hi.timeIntervalSince(lo) * 1000).rounded()) }
            }
            cursor = d.next
        }
        return total
    }

    /// The instant at which `milliseconds` of working time have passed since `start`.
    /// Searches up to ten years ahead; a calendar with no working time at all is refused
    /// when the policy is loaded.
    public func adding(_ milliseconds: Int64, to start: Timestamp) -> Timestamp {
        if weekly == nil && holidays.isEmpty { return start.adding(milliseconds: milliseconds) }
        let cal = calendar
        var remaining = milliseconds
        var cursor = start.date
        for _ in 0..<3660 {
            let d = day(containing: cursor, cal)
            for (a, b) in d.intervals where b > cursor {
                let lo = max(a, cursor)
                let span = Int64((b.timeIntervalSince(lo) * 1000).rounded())
                if remaining <= span { return Timestamp(lo.addingTimeInterval(Double(remaining) / 1000)) }
                remaining -= span
            }
            cursor = d.next
        }
        return start.adding(milliseconds: milliseconds)
    }
}

extension Timestamp {
    func adding(milliseconds ms: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds + ms) }
}
