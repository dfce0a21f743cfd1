import FieldwatchCore

/// A period during which a ticket's pausable clocks stood still; `end` is nil while it lasts.
public struct PauseInterval: Sendable, Equatable {
    public var start: Timestamp
    public var end: Timestamp?
    public init(start: Timestamp, end: Timestamp?) {
        self.start = start
        self.end = end
    }
}

/// SLA arithmetic, pure: deadlines from a start, a working-time target, a calendar and pauses.
public enum SLA {
    /// The instant at which `target` of working time, not counting paused time, has passed
    /// since `start`; nil while a pause that began before that instant is still open (the
    /// deadline is unknown until the clock runs again).
    public static func deadline(start: Timestamp, target: Duration, calendar: BusinessCalendar, pauses: [PauseInterval]) -> Timestamp? {
        var deadline = calendar.adding(target.wholeMilliseconds, to: start)
        // Each pause that begins before the current deadline pushes it out by the working
        // time the pause covered; pauses are disjoint, so taking them in order is enough.
        for pause in pauses.sorted(by: { $0.start < $1.start }) where pause.start < deadline {
            guard let end = pause.end else { return nil }
            let from = max(pause.start, start)
            deadline = calendar.adding(calendar.workingTime(from: from, to: end), to: deadline)
        }
        return deadline
    }

    /// Working time elapsed on a clock at `now`, not counting pauses.
    public static func elapsed(start: Timestamp, now: Timestamp, calendar: BusinessCalendar, pauses: [PauseInterval]) -> Int64 {
        var total = calendar.workingTime(from: start, to: now)
        for pause in pauses {
            let from = max(pause.start, start)
            let to = min(pause.end ?? now, now)
            total -= calendar.workingTime(from: from, to: to)
        }
        return max(0, total)
    }
}
