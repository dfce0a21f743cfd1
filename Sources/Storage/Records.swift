import FieldwatchCore

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

    public init(
        site: SiteID, device: DeviceID, sensor: SensorKey?, faultCode: FaultCode, source: TicketSource, grade: Grade,
        title: String, openedAt: Timestamp, detector: String? = nil, detectorVersion: Int? = nil, profileID: String? = nil,
        profileVersion: Int? = nil, lastValue: Double? = nil, limit: Double? = nil, unit: String? = nil, drill: Bool = false
    ) {
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
    public init(operation: String, message: String) {
        self.operation = operation
        self.message = message
    }
    public var description: String { "storage: \(operation) failed: \(message)" }
}
