import FieldwatchCore
import GRDB

/// A ticket to insert.
public struct NewTicket: Sendable, Equatable {
    public var site: SiteID
    public var device: DeviceID
    public var sensor: SensorKey?
    public var faultCode: FaultCode
    public var source: TicketSource
    public var grade: Grade
    public var title: String
    public var openedAt: Timestamp
    public var detector: String?
    public var detectorVersion: Int?
    public var profileID: String?
    public var profileVersion: Int?
    public var lastValue: Double?
    public var limit: Double?
    public var unit: String?
    public var drill: Bool
    public var customer: String?
    public var tier: CustomerTier
    public var criticality: Int?
    public var timeZone: String?
    public var channel: String?
    public var complaintOf: Int64?
    public var forecast: LimitForecast?

    public init(
        site: SiteID, device: DeviceID, sensor: SensorKey?, faultCode: FaultCode, source: TicketSource, grade: Grade,
        title: String, openedAt: Timestamp, detector: String? = nil, detectorVersion: Int? = nil, profileID: String? = nil,
        profileVersion: Int? = nil, lastValue: Double? = nil, limit: Double? = nil, unit: String? = nil, drill: Bool = false,
        customer: String? = nil, tier: CustomerTier = .standard, criticality: Int? = nil, timeZone: String? = nil, channel: String? = nil,
        complaintOf: Int64? = nil, forecast: LimitForecast? = nil
    ) {
        self.complaintOf = complaintOf
        self.forecast = forecast
        self.customer = customer
        self.tier = tier
        self.criticality = criticality
        self.timeZone = timeZone
        self.channel = channel
        self.site = site
        self.device = device
        self.sensor = sensor
        self.faultCode = faultCode
        self.source = source
        self.grade = grade
        self.title = title
        self.openedAt = openedAt
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

/// A detection as stored with a ticket, with its evidence.
public struct DetectionRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var ticketID: Int64
    public var transition: Anomaly.Transition
    public var severity: Severity
    public var sensor: SensorKey
    public var detectedAt: Timestamp
    public var conditionSince: Timestamp
    public var value: Double
    public var limit: Double
    public var unit: String
    public var detector: String
    public var detectorVersion: Int
    public var profileID: String
    public var profileVersion: Int
    public var summary: String
    public var evidence: [Sample]
    /// When the desk's transaction that stored it began (the commit follows within it).
    public var recordedAt: Timestamp
    /// The forecast a trend detection carried.
    public var forecast: LimitForecast?
}

/// One entry of the audit trail.
public struct AuditRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var at: Timestamp
    public var actor: String
    public var action: String
    public var ticketID: Int64?
    /// JSON object with the step's details.
    public var detail: String
    /// SHA-256 over the record's canonical form and the previous record's hash.
    public var hash: String

    public init(id: Int64, at: Timestamp, actor: String, action: String, ticketID: Int64?, detail: String, hash: String = "") {
        self.id = id
        self.hash = hash
        self.at = at
        self.actor = actor
        self.action = action
        self.ticketID = ticketID
        self.detail = detail
    }
}

/// The one error type of the Storage module.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var message: String
    /// The machine, not the data, is at fault: the disk is full, an I/O error, the database is
    /// locked or read-only. The same write can succeed later, so callers retry it; any other
    /// failure (a constraint the data breaks) will fail again however often it is retried.
    public var environmental: Bool
    /// The disk (or the database's size limit) is full.
    public var diskFull: Bool
    public init(operation: String, message: String, environmental: Bool = false, diskFull: Bool = false) {
        self.operation = operation
        self.message = message
        self.environmental = environmental || diskFull
        self.diskFull = diskFull
    }
    public var description: String { "storage: \(operation) failed: \(message)" }

    /// Wraps any error of a database operation, classifying SQLite's result code.
    static func wrapping(_ error: any Error, operation: String) -> StorageError {
        if let error = error as? StorageError { return error }
        guard let db = error as? DatabaseError else { return StorageError(operation: operation, message: "\(error)") }
        let full = db.resultCode == .SQLITE_FULL
        let environmental: [ResultCode] = [.SQLITE_FULL, .SQLITE_IOERR, .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_READONLY, .SQLITE_CANTOPEN,
                                              .SQLITE_NOMEM, .SQLITE_PROTOCOL]
        return StorageError(operation: operation, message: full ? "\(db) (the disk or the database's size limit is full: free space)" : "\(db)",
                            environmental: environmental.contains(db.resultCode), diskFull: full)
    }
}

/// One SLA clock of a ticket as stored: the deadline the desk computed last and when the
/// clock's goal was met.
public struct ClockRecord: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        case running
        case paused
        case met
        /// The ticket was resolved without this step (a remote fix needs no visit).
        case notNeeded = "not_needed"
        /// The ticket was cancelled.
        case stopped
    }
    public var ticketID: Int64
    public var kind: String
    public var startedAt: Timestamp
    public var targetMilliseconds: Int64
    public var calendar: String
    /// Nil while paused.
    public var deadline: Timestamp?
    public var metAt: Timestamp?
    public var state: State

    public init(ticketID: Int64, kind: String, startedAt: Timestamp, targetMilliseconds: Int64, calendar: String, deadline: Timestamp?,
                metAt: Timestamp?, state: State) {
        self.ticketID = ticketID
        self.kind = kind
        self.startedAt = startedAt
        self.targetMilliseconds = targetMilliseconds
        self.calendar = calendar
        self.deadline = deadline
        self.metAt = metAt
        self.state = state
    }

    /// Met after its deadline, or still running past it.
    public func isBreached(at now: Timestamp) -> Bool {
        guard let deadline else { return false }
        if let metAt { return metAt > deadline }
        return state == .running && now > deadline
    }
}

/// A pause of a ticket's clocks, with its reason and evidence.
public struct PauseRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var ticketID: Int64
    public var reason: String
    public var evidence: String
    public var actor: String
    public var startedAt: Timestamp
    public var endedAt: Timestamp?
}

/// A notification in the durable outbox.
public struct OutboxMessage: Sendable, Equatable, Codable {
    public var id: Int64
    public var createdAt: Timestamp
    /// Idempotency key: the same event is never queued twice, and receivers can deduplicate.
    public var key: String
    public var kind: String
    public var topic: String
    /// JSON object.
    public var payload: String
}

/// Where one destination stands with one message.
public struct OutboxDeliveryState: Sendable, Equatable, Codable {
    public var messageID: Int64
    public var destination: String
    public var attempts: Int
    public var nextAttemptAt: Timestamp
    public var deliveredAt: Timestamp?
    public var lastError: String?
    /// Set aside after too many failed attempts (see `OutboxDelivery`); nil otherwise.
    public var deadAt: Timestamp?
}

/// A message one destination refused too often, set aside.
public struct OutboxDeadLetter: Sendable, Equatable {
    public var message: OutboxMessage
    public var destination: String
    public var attempts: Int
    public var lastError: String?
    public var deadAt: Timestamp
}

/// An engineer's proposed repair: what is wrong, what will be done, with which parts, at
/// what cost, and the supervisor's decision when the policy asks for one.
public struct SolutionRecord: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable {
        case proposed
        case approved
        case rejected
        /// The policy does not ask for approval of this ticket and cost.
        case notRequired = "not_required"
    }
    public var id: Int64
    public var ticketID: Int64
    public var proposedBy: String
    public var proposedAt: Timestamp
    public var diagnosis: String
    public var plannedWork: String
    public var parts: String
    public var estimatedCost: Double
    public var status: Status
    public var decidedBy: String?
    public var decidedAt: Timestamp?
    public var decisionNote: String?

    public init(id: Int64, ticketID: Int64, proposedBy: String, proposedAt: Timestamp, diagnosis: String, plannedWork: String, parts: String,
                estimatedCost: Double, status: Status, decidedBy: String? = nil, decidedAt: Timestamp? = nil, decisionNote: String? = nil) {
        self.id = id
        self.ticketID = ticketID
        self.proposedBy = proposedBy
        self.proposedAt = proposedAt
        self.diagnosis = diagnosis
        self.plannedWork = plannedWork
        self.parts = parts
        self.estimatedCost = estimatedCost
        self.status = status
        self.decidedBy = decidedBy
        self.decidedAt = decidedAt
        self.decisionNote = decisionNote
    }
}

/// A customer's rating of a fixed fault.
public struct RatingRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var ticketID: Int64
    public var score: Int
    public var comment: String
    public var actor: String
    public var at: Timestamp
}
