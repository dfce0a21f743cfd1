import FieldwatchCore
import GRDB

/// An engineer's visit to a site: the check-in (where they were, whether that is at the site,
/// who accepted it when it was not), and the finish (outcome, why not fixed, work, hours, parts).
public struct VisitRecord: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        case fixed
        case notFixed = "not_fixed"
    }
    /// Why a visit did not fix the fault: what management acts on to raise first-time fix.
    public enum NotFixedReason: String, Sendable, Codable, CaseIterable {
        case missingPart = "missing_part"
        case missingSkill = "missing_skill"
        case noAccess = "no_access"
        case misdiagnosis
        case needsFollowUp = "needs_follow_up"
    }
    public var id: Int64
    public var ticketID: Int64
    public var engineer: String
    public var startedAt: Timestamp
    public var position: GeoPoint?
    /// Metres from the site at check-in, when a position was sent.
    public var distanceMetres: Double?
    /// The check-in was within the site's radius: evidence of arrival.
    public var withinRadius: Bool
    /// The supervisor who accepted a check-in made away from the site.
    public var acceptedBy: String?
    public var finishedAt: Timestamp?
    public var outcome: Outcome?
    public var reason: NotFixedReason?
    public var work: String?
    public var labourHours: Double?
    /// `PART:QTY` lines joined by commas, as the engineer reported them.
    public var parts: String?
}

/// Remote assistance: a video call or a live telemetry review, with its outcome.
public struct RemoteAssistRecord: Sendable, Equatable, Codable {
    public var id: Int64
    public var ticketID: Int64
    public var actor: String
    public var at: Timestamp
    public var checked: String
    public var instructions: String
    public var outcome: VisitRecord.Outcome
}

extension TicketTransaction {
    public func insertVisit(ticketID: Int64, engineer: String, at: Timestamp, position: GeoPoint?, distanceMetres: Double?,
                            withinRadius: Bool) throws -> VisitRecord {
        try db.execute(sql: """
            INSERT INTO visit (ticket_id, engineer, started_at, latitude, longitude, distance_m, within_radius) VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [ticketID, engineer, at.milliseconds, position?.latitude, position?.longitude, distanceMetres, withinRadius])
        return try visit(id: db.lastInsertedRowID)!
    }

    public func visit(id: Int64) throws -> VisitRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM visit WHERE id = ?", arguments: [id]).map(Self.visit(from:))
    }

    /// The visit an engineer has not finished yet on a ticket.
    public func openVisit(ticketID: Int64, engineer: String) throws -> VisitRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM visit WHERE ticket_id = ? AND engineer = ? AND finished_at IS NULL", arguments: [ticketID, engineer])
            .map(Self.visit(from:))
    }

    public func acceptVisit(id: Int64, by supervisor: String) throws {
        try db.execute(sql: "UPDATE visit SET accepted_by = ? WHERE id = ?", arguments: [supervisor, id])
    }

    public func finishVisit(id: Int64, at: Timestamp, outcome: VisitRecord.Outcome, reason: VisitRecord.NotFixedReason?, work: String,
                            labourHours: Double, parts: String?) throws {
        try db.execute(sql: "UPDATE visit SET finished_at = ?, outcome = ?, reason = ?, work = ?, labour_hours = ?, parts = ? WHERE id = ?",
                       arguments: [at.milliseconds, outcome.rawValue, reason?.rawValue, work, labourHours, parts, id])
    }

    public func insertRemoteAssist(ticketID: Int64, actor: String, at: Timestamp, checked: String, instructions: String,
                                   outcome: VisitRecord.Outcome) throws -> RemoteAssistRecord {
        try db.execute(sql: "INSERT INTO remote_assist (ticket_id, actor, at, checked, instructions, outcome) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [ticketID, actor, at.milliseconds, checked, instructions, outcome.rawValue])
        return RemoteAssistRecord(id: db.lastInsertedRowID, ticketID: ticketID, actor: actor, at: at, checked: checked, instructions: instructions,
                                  outcome: outcome)
    }

    static func visit(from row: Row) -> VisitRecord {
        let lat: Double? = row["latitude"], lon: Double? = row["longitude"]
        let finished: Int64? = row["finished_at"]
        let outcome: String? = row["outcome"], reason: String? = row["reason"]
        return VisitRecord(id: row["id"], ticketID: row["ticket_id"], engineer: row["engineer"], startedAt: Timestamp(milliseconds: row["started_at"]),
                           position: lat.flatMap { la in lon.map { GeoPoint(latitude: la, longitude: $0) } }, distanceMetres: row["distance_m"],
                           withinRadius: row["within_radius"], acceptedBy: row["accepted_by"], finishedAt: finished.map(Timestamp.init(milliseconds:)),
                           outcome: outcome.flatMap(VisitRecord.Outcome.init(rawValue:)), reason: reason.flatMap(VisitRecord.NotFixedReason.init(rawValue:)),
                           work: row["work"], labourHours: row["labour_hours"], parts: row["parts"])
    }

    static func remote(from row: Row) -> RemoteAssistRecord {
        let outcome: String = row["outcome"]
        return RemoteAssistRecord(id: row["id"], ticketID: row["ticket_id"], actor: row["actor"], at: Timestamp(milliseconds: row["at"]),
                                  checked: row["checked"], instructions: row["instructions"], outcome: VisitRecord.Outcome(rawValue: outcome) ?? .notFixed)
    }
}

extension TicketStore {
    public func visit(id: Int64) throws(StorageError) -> VisitRecord? {
        try read("read visit \(id)") { db in try TicketTransaction(db: db).visit(id: id) }
    }

    public func visits(ticketID: Int64) throws(StorageError) -> [VisitRecord] {
        try read("read visits of ticket \(ticketID)") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM visit WHERE ticket_id = ? ORDER BY started_at, id", arguments: [ticketID]).map(TicketTransaction.visit(from:))
        }
    }

    public func remoteAssists(ticketID: Int64) throws(StorageError) -> [RemoteAssistRecord] {
        try read("read remote assistance of ticket \(ticketID)") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM remote_assist WHERE ticket_id = ? ORDER BY at, id", arguments: [ticketID]).map(TicketTransaction.remote(from:))
        }
    }
}
