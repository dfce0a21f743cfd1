import FieldwatchCore
import Profiles
import Storage

// The JSON shapes of desk records, shared by the command line's --json and the HTTP API:
// snake_case keys, RFC 3339 times.

/// A trend forecast of a limit crossing.
public struct ForecastView: Codable, Sendable, Equatable {
    public var limit: Double
    public var crossing_at: String
    public var earliest: String
    /// nil: the slow end of the band never reaches the limit.
    public var latest: String?
    public var hours_to_limit: Double
    public var slope_per_hour: Double
    public var level: Double
    public var fitted_at: String
    public var window_start: String
    public var points: Int
    /// "in 14 h (10 h – 20 h)".
    public var lead: String

    public init(_ f: LimitForecast) {
        limit = f.limit
        crossing_at = f.crossingAt.rfc3339
        earliest = f.earliest.rfc3339
        latest = f.latest?.rfc3339
        hours_to_limit = (f.timeToLimit.secondsDouble / 36).rounded() / 100
        slope_per_hour = f.slopePerHour
        level = f.level
        fitted_at = f.fittedAt.rfc3339
        window_start = f.windowStart.rfc3339
        points = f.points
        lead = f.leadDescription
    }
}

/// A ticket.
public struct TicketView: Codable, Sendable, Equatable {
    public var id: Int64
    public var site: String
    public var device: String
    public var sensor: String?
    public var fault_code: String
    public var source: String
    public var grade: String
    public var status: String
    public var title: String
    public var opened_at: String
    public var updated_at: String
    public var occurrences: Int
    public var detector: String?
    public var detector_version: Int?
    public var profile_id: String?
    public var profile_version: Int?
    public var last_value: Double?
    public var limit: Double?
    public var unit: String?
    public var drill: Bool
    public var owner: String?
    public var customer: String?
    public var tier: String
    public var criticality: Int?
    public var time_zone: String?
    public var paused: Bool
    public var channel: String?
    public var cancel_reason: String?
    /// For a complaint (opened by a rating of 2 or less): the ticket it is about.
    public var complaint_of: Int64?
    /// The engineer sent to do the work (dispatch); the owner stays who took the ticket.
    public var assignee: String?
    public var forecast: ForecastView?

    public init(_ t: Ticket) {
        forecast = t.forecast.map(ForecastView.init)
        owner = t.owner
        customer = t.customer
        tier = t.tier.rawValue
        criticality = t.criticality
        time_zone = t.timeZone
        paused = t.paused
        channel = t.channel
        cancel_reason = t.cancelReason
        complaint_of = t.complaintOf
        assignee = t.assignee
        id = t.id
        site = t.site.rawValue
        device = t.device.rawValue
        sensor = t.sensor?.rawValue
        fault_code = t.faultCode.rawValue
        source = t.source.rawValue
        grade = t.grade.rawValue
        status = t.status.rawValue
        title = t.title
        opened_at = t.openedAt.rfc3339
        updated_at = t.updatedAt.rfc3339
        occurrences = t.occurrences
        detector = t.detector
        detector_version = t.detectorVersion
        profile_id = t.profileID
        profile_version = t.profileVersion
        last_value = t.lastValue
        limit = t.limit
        unit = t.unit
        drill = t.drill
    }
}

/// One SLA clock; `breached` as of the time of the view.
public struct ClockView: Codable, Sendable, Equatable {
    public var kind: String
    public var state: String
    public var target: String
    public var calendar: String
    public var deadline: String?
    public var met_at: String?
    public var breached: Bool

    public init(_ c: ClockRecord, now: Timestamp) {
        kind = c.kind
        state = c.state.rawValue
        target = formatDuration(.milliseconds(c.targetMilliseconds))
        calendar = c.calendar
        deadline = c.deadline?.rfc3339
        met_at = c.metAt?.rfc3339
        breached = c.isBreached(at: now)
    }
}
