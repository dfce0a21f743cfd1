/// Service grade of a ticket (the brief's urgent / general / minor).
public enum Grade: String, Sendable, Codable, CaseIterable, Comparable {
    case minor
    case general
    case urgent

    /// The Foundation rule: a critical limit is urgent, a warning limit general. The service
    /// desk's grading policy refines this with criticality and customer tier.
    public init(severity: Severity) {
        self = severity == .critical ? .urgent : .general
    }

    var rank: Int {
        switch self {
        case .minor: 0
        case .general: 1
        case .urgent: 2
        }
    }
    public static func < (lhs: Grade, rhs: Grade) -> Bool { lhs.rank < rhs.rank }
}

/// Where a ticket came from.
public enum TicketSource: String, Sendable, Codable, CaseIterable {
    case predictive
    case customerReport = "customer_report"
    case manual
}

/// A ticket's place in its lifecycle. Only `closed` and `cancelled` end it; any other status
/// counts as open for the one-open-ticket-per-(device, fault) rule.
public enum TicketStatus: String, Sendable, Codable, CaseIterable {
    case new
    case acknowledged
    case contacted
    case dispatched
    case onSite = "on_site"
    case resolved
    case closed
    case cancelled

    public var isOpen: Bool { self != .closed && self != .cancelled }
}

/// A service ticket as read back from the store.
public struct Ticket: Sendable, Hashable, Codable {
    public var id: Int64
    public var site: SiteID
    public var device: DeviceID
    public var sensor: SensorKey?
    public var faultCode: FaultCode
    public var source: TicketSource
    public var grade: Grade
    public var status: TicketStatus
    public var title: String
    public var openedAt: Timestamp
    public var updatedAt: Timestamp
    /// How many detections this ticket has absorbed (1 when opened).
    public var occurrences: Int
    public var detector: String?
    public var detectorVersion: Int?
    public var profileID: String?
    public var profileVersion: Int?
    public var lastValue: Double?
    public var limit: Double?
    public var unit: String?
    /// Opened by an emergency drill: reported on its own and kept out of real KPIs.
    public var drill: Bool
    /// The person who acknowledged the ticket and owns it (first-responder ownership).
    public var owner: String?
    /// The customer organisation and its tier, as they were when the ticket opened.
    public var customer: String?
    public var tier: CustomerTier
    /// Equipment criticality 1…5 from the device profile, when known.
    public var criticality: Int?
    /// The site's IANA time zone: SLA calendars are counted in it.
    public var timeZone: String?
    /// True while a pause stops the customer's SLA clocks.
    public var paused: Bool
    /// For a customer report: phone, online or email.
    public var channel: String?
    /// Why it was cancelled (false alarm, duplicate, …).
    public var cancelReason: String?
    /// For a complaint: the ticket it is about.
    public var complaintOf: Int64?
    /// For a predictive ticket from a trend: the latest forecast of the limit crossing.
    public var forecast: LimitForecast?
    /// The engineer sent to do the work (dispatch); the owner stays who took the ticket.
    public var assignee: String?

    public init(
        id: Int64, site: SiteID, device: DeviceID, sensor: SensorKey?, faultCode: FaultCode, source: TicketSource,
        grade: Grade, status: TicketStatus, title: String, openedAt: Timestamp, updatedAt: Timestamp,
        occurrences: Int, detector: String?, detectorVersion: Int?, profileID: String?, profileVersion: Int?,
        lastValue: Double?, limit: Double?, unit: String?, drill: Bool = false, owner: String? = nil, customer: String? = nil,
        tier: CustomerTier = .standard, criticality: Int? = nil, timeZone: String? = nil, paused: Bool = false, channel: String? = nil,
        cancelReason: String? = nil, complaintOf: Int64? = nil, forecast: LimitForecast? = nil, assignee: String? = nil
    ) {
        self.assignee = assignee
        self.complaintOf = complaintOf
        self.forecast = forecast
        self.owner = owner
        self.customer = customer
        self.tier = tier
        self.criticality = criticality
        self.timeZone = timeZone
        self.paused = paused
        self.channel = channel
        self.cancelReason = cancelReason
        self.id = id
        self.site = site
        self.device = device
        self.sensor = sensor
        self.faultCode = faultCode
        self.source = source
        self.grade = grade
        self.status = status
        self.title = title
        self.openedAt = openedAt
        self.updatedAt = updatedAt
        self.occurrences = occurrences
        self.detector = detector
        self.detectorVersion = detectorVersion
        self.profileID = profileID
        self.profileVersion = profileVersion
        self.lastValue = lastValue
        self.limit = limit
        self.unit = unit
        self.drill = drill
    }
}

/// A customer's service tier, from the inventory; VIP customers get tighter SLA targets and
/// a higher grade for the same fault.
public enum CustomerTier: String, Sendable, Codable, CaseIterable {
    case standard
    case vip
}
