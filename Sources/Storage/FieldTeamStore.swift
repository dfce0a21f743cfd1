import FieldwatchCore
import Foundation
import GRDB

/// What an import of the field team changed.
public struct FieldTeamImport: Sendable, Equatable {
    public var added: [String] = []
    public var updated: [String] = []
    public var deactivated: [String] = []
    public var reactivated: [String] = []
    public var unchanged = 0
    public var isEmpty: Bool { added.isEmpty && updated.isEmpty && deactivated.isEmpty && reactivated.isEmpty }
    public init() {}
}

/// The field team's records: engineers, service points, partners, positions and ticket
/// assignments. A small repository beside `TicketStore`, so a PostgreSQL implementation can
/// stand in for the SQLite one without its callers changing.
public protocol FieldTeamRepository: Sendable {
    /// Makes the stored team match `team`: adds and updates what differs, deactivates what is
    /// missing (never deletes), each change audited; an identical import changes nothing.
    func importTeam(_ team: FieldTeam, source: String, actor: String, at: Timestamp) throws(StorageError) -> FieldTeamImport
    func engineers(includeInactive: Bool) throws(StorageError) -> [Engineer]
    func servicePoints() throws(StorageError) -> [ServicePoint]
    func partners() throws(StorageError) -> [Partner]
    /// Last known positions by engineer id.
    func positions() throws(StorageError) -> [String: EngineerPosition]
    /// Records where an engineer is; a position older than the stored one is kept as history
    /// in the audit trail only.
    func locate(_ position: EngineerPosition, actor: String) throws(StorageError)
    /// Open (not closed, cancelled or resolved) real tickets per assignee.
    func openJobs() throws(StorageError) -> [String: [Ticket]]
}

/// The SQLite implementation, on the `TicketStore`'s database.
public final class SQLiteFieldTeamStore: FieldTeamRepository {
    let store: TicketStore

    public init(_ store: TicketStore) { self.store = store }

    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    public func importTeam(_ team: FieldTeam, source: String, actor: String, at: Timestamp) throws(StorageError) -> FieldTeamImport {
        try store.writeSync { tx in
            var result = FieldTeamImport()
            let db = tx.db
            // One pass per table: what is in the file is upserted when it differs, what is not is deactivated.
            func sync<T: Codable & Equatable>(_ table: String, _ kind: String, _ items: [(id: String, value: T, columns: [String: DatabaseValueConvertible?])],
                                              active: (T) -> Bool, deactivate: (T) -> T) throws {
                var stored: [String: (T, Bool)] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT id, active, definition FROM \(table)") {
                    stored[row["id"]] = (try Self.decode(T.self, row["definition"]), row["active"])
                }
                for item in items {
                    let text = try Self.encode(item.value)
                    var names = ["id", "active", "definition", "updated_at"], values: [DatabaseValueConvertible?] = [item.id, active(item.value), text, at.milliseconds]
                    for (k, v) in item.columns.sorted(by: { $0.key < $1.key }) {
                        names.append(k)
                        values.append(v)
                    }
                    let upsert = "INSERT INTO \(table) (\(names.joined(separator: ", "))) VALUES (\(names.map { _ in "?" }.joined(separator: ", "))) "
                        + "ON CONFLICT (id) DO UPDATE SET " + names.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
                    if let (old, wasActive) = stored[item.id] {
                        if old == item.value && wasActive { result.unchanged += 1; continue }
                        try db.execute(sql: upsert, arguments: StatementArguments(values))
                        if !wasActive {
                            result.reactivated.append("\(kind) \(item.id)")
                            try tx.appendAudit(at: at, actor: actor, action: "\(kind).reactivated", ticketID: nil, detail: ["id": item.id, "source": source])
                        } else {
                            result.updated.append("\(kind) \(item.id)")
                            try tx.appendAudit(at: at, actor: actor, action: "\(kind).updated", ticketID: nil,
                                               detail: ["id": item.id, "source": source, "before": try Self.encode(old), "after": text])
                        }
                    } else {
                        try db.execute(sql: upsert, arguments: StatementArguments(values))
                        result.added.append("\(kind) \(item.id)")
                        try tx.appendAudit(at: at, actor: actor, action: "\(kind).added", ticketID: nil, detail: ["id": item.id, "source": source, "after": text])
                    }
                }
                let present = Set(items.map(\.id))
                for (id, (old, wasActive)) in stored.sorted(by: { $0.key < $1.key }) where wasActive && !present.contains(id) {
                    try db.execute(sql: "UPDATE \(table) SET active = 0, definition = ?, updated_at = ? WHERE id = ?",
                                   arguments: [try Self.encode(deactivate(old)), at.milliseconds, id])
                    result.deactivated.append("\(kind) \(id)")
                    try tx.appendAudit(at: at, actor: actor, action: "\(kind).deactivated", ticketID: nil,
                                       detail: ["id": id, "source": source, "reason": "not in \(source)"])
                }
            }
            try sync("partner", "partner", team.partners.map { (id: $0.id, value: $0, columns: [:]) }, active: \.active) { p in
                var p = p
                p.active = false
                return p
            }
            let points = team.servicePoints + team.partners.flatMap(\.servicePoints)
            try sync("service_point", "service_point", points.map { (id: $0.id, value: $0, columns: ["partner": $0.partner]) }, active: { _ in true }) { $0 }
            try sync("engineer", "engineer", team.engineers.map {
                (id: $0.id, value: $0, columns: ["name": $0.name, "role": $0.role.rawValue, "service_point": $0.servicePoint])
            }, active: \.active) { e in
                var e = e
                e.active = false
                return e
            }
            return result
        }
    }

    public func engineers(includeInactive: Bool = false) throws(StorageError) -> [Engineer] {
        try store.read("read engineers") { db in
            try Row.fetchAll(db, sql: "SELECT definition FROM engineer" + (includeInactive ? "" : " WHERE active = 1") + " ORDER BY id").map {
                try Self.decode(Engineer.self, $0["definition"])
            }
        }
    }

    public func servicePoints() throws(StorageError) -> [ServicePoint] {
        try store.read("read service points") { db in
            try Row.fetchAll(db, sql: "SELECT definition FROM service_point WHERE active = 1 ORDER BY id").map { try Self.decode(ServicePoint.self, $0["definition"]) }
        }
    }

    public func partners() throws(StorageError) -> [Partner] {
        try store.read("read partners") { db in
            try Row.fetchAll(db, sql: "SELECT definition FROM partner WHERE active = 1 ORDER BY id").map { try Self.decode(Partner.self, $0["definition"]) }
        }
    }

    public func positions() throws(StorageError) -> [String: EngineerPosition] {
        try store.read("read engineer positions") { db in
            var result: [String: EngineerPosition] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM engineer_position") {
                let id: String = row["engineer_id"]
                result[id] = EngineerPosition(engineer: id, position: GeoPoint(latitude: row["latitude"], longitude: row["longitude"]),
                                              at: Timestamp(milliseconds: row["at"]))
            }
            return result
        }
    }

    public func locate(_ p: EngineerPosition, actor: String) throws(StorageError) {
        _ = try store.writeSync { tx in
            try tx.db.execute(sql: """
                INSERT INTO engineer_position (engineer_id, latitude, longitude, at) VALUES (?, ?, ?, ?)
                ON CONFLICT (engineer_id) DO UPDATE SET latitude = excluded.latitude, longitude = excluded.longitude, at = excluded.at
                WHERE excluded.at >= engineer_position.at
                """, arguments: [p.engineer, p.position.latitude, p.position.longitude, p.at.milliseconds])
            try tx.appendAudit(at: p.at, actor: actor, action: "engineer.located", ticketID: nil, detail: [
                "id": p.engineer, "latitude": "\(p.position.latitude)", "longitude": "\(p.position.longitude)",
            ])
        }
    }

    public func openJobs() throws(StorageError) -> [String: [Ticket]] {
        try store.read("read open assignments") { db in
            let tickets = try Row.fetchAll(db, sql: """
                SELECT * FROM ticket WHERE assignee IS NOT NULL AND drill = 0 AND status NOT IN ('closed', 'cancelled', 'resolved') ORDER BY id
                """).map(TicketTransaction.ticket(from:))
            return Dictionary(grouping: tickets) { $0.assignee! }
        }
    }
}

extension TicketTransaction {
    /// Sets who is sent to a ticket (dispatch); the owner is not touched.
    public func assign(ticketID: Int64, engineer: String?, at: Timestamp) throws {
        try db.execute(sql: "UPDATE ticket SET assignee = ?, updated_at = MAX(updated_at, ?) WHERE id = ?", arguments: [engineer, at.milliseconds, ticketID])
    }

    /// Whether an active engineer has this id.
    public func engineerIsActive(_ id: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT active FROM engineer WHERE id = ?", arguments: [id]) ?? false
    }
}
