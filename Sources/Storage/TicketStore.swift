import FieldwatchCore
import Foundation
import GRDB

/// The embedded store: one SQLite file in WAL mode, behind a small repository interface so
/// the service desk can later move to a shared PostgreSQL without touching its callers.
/// Nothing outside this module writes SQL.
public final class TicketStore: Sendable {
    public let path: String
    private let pool: DatabasePool
    private let checkpointer: WALCheckpointer

    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    public convenience init(path: String) throws(StorageError) {
        try self.init(path: path, checkpointEvery: 64, checkpointPause: .seconds(1))
    }

    /// `checkpointEvery` commits or `checkpointPause` after the last one, the WAL is
    /// checkpointed in the background (`WALCheckpointer`).
    init(path: String, checkpointEvery: Int, checkpointPause: Duration) throws(StorageError) {
        self.path = path
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // synchronous=FULL: a committed ticket survives power loss, not only a process crash.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // The WAL is checkpointed off the commit path (WALCheckpointer); this is the backstop.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.fallbackPages)")
        }
        do {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            pool = try DatabasePool(path: path, configuration: config)
            try Schema.migrator.migrate(pool)
            checkpointer = try WALCheckpointer(path: path, interval: checkpointEvery, pause: checkpointPause)
        } catch {
            throw StorageError(operation: "open \(path)", message: "\(error); check that the directory is writable and the file is a Fieldwatch database")
        }
    }

    /// Runs `body` in one write transaction: all of it commits, or none of it.
    public func write<T: Sendable>(_ body: @escaping @Sendable (TicketTransaction) throws -> T) async throws(StorageError) -> T {
        do {
            defer { checkpointer.didCommit() }
            return try await pool.write { db in try body(TicketTransaction(db: db)) }
        } catch {
            throw StorageError.wrapping(error, operation: "write transaction")
        }
    }

    /// Synchronous variant for command-line tools and tests.
    public func writeSync<T>(_ body: (TicketTransaction) throws -> T) throws(StorageError) -> T {
        do {
            defer { checkpointer.didCommit() }
            return try pool.write { db in try body(TicketTransaction(db: db)) }
        } catch {
            throw StorageError.wrapping(error, operation: "write transaction")
        }
    }

    /// Like `writeSync`, but errors thrown by `body` itself come out unchanged (a caller's
    /// own validation error stays that error); database errors become `StorageError`.
    public func transaction<T>(_ body: (TicketTransaction) throws -> T) throws -> T {
        do {
            defer { checkpointer.didCommit() }
            return try pool.write { db in try body(TicketTransaction(db: db)) }
        } catch let error as DatabaseError {
            throw StorageError.wrapping(error, operation: "write transaction")
        }
    }

    /// Caps the database at its current size plus `extraPages` pages (nil lifts the cap): the
    /// writer then fails with SQLITE_FULL exactly as on a full disk. For fault tests.
    func limitSize(extraPages: Int?) throws {
        try pool.write { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(extraPages.map { pages + $0 } ?? 1_073_741_823)")
        }
    }

    /// Background WAL checkpoints done and failed (the latest failure's message, if any).
    public var walCheckpoints: (done: Int, failed: Int, lastError: String?) {
        let c = checkpointer.counters
        return (c.checkpoints, c.failures, c.lastError)
    }

    func read<T>(_ operation: String, _ body: (Database) throws -> T) throws(StorageError) -> T {
        do {
            return try pool.read(body)
        } catch {
            throw StorageError.wrapping(error, operation: operation)
        }
    }

    /// Tickets, newest first; `openOnly` leaves out closed and cancelled ones.
    public func tickets(openOnly: Bool = false) throws(StorageError) -> [Ticket] {
        try read("list tickets") { db in
            let sql = "SELECT * FROM ticket" + (openOnly ? " WHERE status NOT IN ('closed', 'cancelled')" : "") + " ORDER BY opened_at DESC, id DESC"
            return try Row.fetchAll(db, sql: sql).map(TicketTransaction.ticket(from:))
        }
    }

    public func ticket(id: Int64) throws(StorageError) -> Ticket? {
        try read("read ticket \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM ticket WHERE id = ?", arguments: [id]).map(TicketTransaction.ticket(from:))
        }
    }

    /// The detections of a ticket with their evidence samples, oldest first.
    public func detections(ticketID: Int64) throws(StorageError) -> [DetectionRecord] {
        try read("read detections of ticket \(ticketID)") { db in
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM detection WHERE ticket_id = ? ORDER BY detected_at, id", arguments: [ticketID])
            return try rows.map { row in
                let id: Int64 = row["id"]
                let transition: String = row["transition"]
                let severity: String = row["severity"]
                let samples = try Row.fetchAll(db, sql: "SELECT ts, value FROM evidence_sample WHERE detection_id = ? ORDER BY ts", arguments: [id])
                    .map { Sample(timestamp: Timestamp(milliseconds: $0["ts"]), value: $0["value"]) }
                return DetectionRecord(
                    id: id, ticketID: row["ticket_id"],
                    transition: Anomaly.Transition(rawValue: transition) ?? .raised,
                    severity: severity == "critical" ? .critical : .warning,
                    sensor: SensorKey(row["sensor"]), detectedAt: Timestamp(milliseconds: row["detected_at"]),
                    conditionSince: Timestamp(milliseconds: row["condition_since"]), value: row["value"], limit: row["limit_value"],
                    unit: row["unit"], detector: row["detector"], detectorVersion: row["detector_version"],
                    profileID: row["profile_id"], profileVersion: row["profile_version"], summary: row["summary"], evidence: samples,
                    recordedAt: Timestamp(milliseconds: row["recorded_at"]), forecast: TicketTransaction.forecast(row["forecast"]))
            }
        }
    }

    /// The audit trail, oldest first; for one ticket when `ticketID` is given.
    public func auditRecords(ticketID: Int64? = nil) throws(StorageError) -> [AuditRecord] {
        try read("read audit records") { db in
            let rows = ticketID == nil
                ? try Row.fetchAll(db, sql: "SELECT * FROM audit_record ORDER BY id")
                : try Row.fetchAll(db, sql: "SELECT * FROM audit_record WHERE ticket_id = ? ORDER BY id", arguments: [ticketID])
            return rows.map {
                AuditRecord(id: $0["id"], at: Timestamp(milliseconds: $0["at"]), actor: $0["actor"], action: $0["action"],
                            ticketID: $0["ticket_id"], detail: $0["detail"], hash: $0["hash"])
            }
        }
    }
}

/// What the service desk can do inside one write transaction. Wraps GRDB's `Database` so no
/// other module sees GRDB.
public struct TicketTransaction {
    let db: Database

    /// The open ticket of a (device, fault), if any: its own, or one that absorbed it as a
    /// symptom. Drill and real tickets are separate.
    public func openTicket(device: DeviceID, faultCode: FaultCode, drill: Bool = false) throws -> Ticket? {
        try Row.fetchOne(db.cachedStatement(sql: """
            SELECT * FROM ticket WHERE drill = ? AND status NOT IN ('closed', 'cancelled') AND (
                (device_id = ? AND fault_code = ?)
                OR id IN (SELECT ticket_id FROM ticket_symptom WHERE device_id = ? AND fault_code = ?))
            ORDER BY device_id = ? DESC, id LIMIT 1
            """), arguments: [drill, device.rawValue, faultCode.rawValue, device.rawValue, faultCode.rawValue, device.rawValue]).map(Self.ticket(from:))
    }

    /// Records that a ticket also stands for (device, fault).
    public func addSymptom(ticketID: Int64, device: DeviceID, faultCode: FaultCode, at: Timestamp) throws {
        try db.execute(sql: "INSERT OR IGNORE INTO ticket_symptom (ticket_id, device_id, fault_code, first_at) VALUES (?, ?, ?, ?)",
                       arguments: [ticketID, device.rawValue, faultCode.rawValue, at.milliseconds])
    }

    /// The (device, fault) pairs a ticket absorbed besides its own.
    public func symptoms(ticketID: Int64) throws -> [(device: DeviceID, faultCode: FaultCode)] {
        try Row.fetchAll(db, sql: "SELECT device_id, fault_code FROM ticket_symptom WHERE ticket_id = ? ORDER BY first_at, device_id",
                         arguments: [ticketID]).map { (DeviceID($0["device_id"]), FaultCode($0["fault_code"])) }
    }

    /// The most recently active open machine-fault ticket of a device, active at or after `since`.
    public func recentMachineTicket(device: DeviceID, drill: Bool, since: Timestamp, excluding health: [FaultCode]) throws -> Ticket? {
        let placeholders = health.map { _ in "?" }.joined(separator: ", ")
        var arguments: StatementArguments = [device.rawValue, drill, since.milliseconds]
        arguments += StatementArguments(health.map(\.rawValue))
        return try Row.fetchOne(db, sql: """
            SELECT * FROM ticket WHERE device_id = ? AND drill = ? AND status NOT IN ('closed', 'cancelled', 'resolved')
                AND source = 'predictive' AND updated_at >= ? AND fault_code NOT IN (\(placeholders))
            ORDER BY updated_at DESC LIMIT 1
            """, arguments: arguments).map(Self.ticket(from:))
    }

    /// Devices of a site with an open ticket (own or absorbed) for one of `faults`.
    public func devicesWithOpenTickets(site: SiteID, faults: [FaultCode], drill: Bool) throws -> Set<DeviceID> {
        let placeholders = faults.map { _ in "?" }.joined(separator: ", ")
        var arguments: StatementArguments = [site.rawValue, drill]
        arguments += StatementArguments(faults.map(\.rawValue))
        let rows = try String.fetchAll(db, sql: """
            SELECT device_id FROM ticket WHERE site_id = ? AND drill = ? AND status NOT IN ('closed', 'cancelled')
                AND fault_code IN (\(placeholders))
            """, arguments: arguments)
        return Set(rows.map(DeviceID.init))
    }

    /// Inserts a ticket (status `new`, one occurrence) and returns it with its id.
    public func insertTicket(_ t: NewTicket) throws -> Ticket {
        try db.cachedStatement(sql: """
            INSERT INTO ticket (site_id, device_id, sensor, fault_code, source, grade, status, title, opened_at, updated_at,
                                occurrences, detector, detector_version, profile_id, profile_version, last_value, limit_value, unit, drill,
                                customer, tier, criticality, time_zone, channel, complaint_of, forecast)
            VALUES (?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                t.site.rawValue, t.device.rawValue, t.sensor?.rawValue, t.faultCode.rawValue, t.source.rawValue, t.grade.rawValue,
                t.title, t.openedAt.milliseconds, t.openedAt.milliseconds, t.detector, t.detectorVersion, t.profileID,
                t.profileVersion, t.lastValue, t.limit, t.unit, t.drill, t.customer, t.tier.rawValue, t.criticality, t.timeZone, t.channel, t.complaintOf,
                try Self.json(t.forecast),
            ])
        let id = db.lastInsertedRowID
        return Ticket(id: id, site: t.site, device: t.device, sensor: t.sensor, faultCode: t.faultCode, source: t.source,
                      grade: t.grade, status: .new, title: t.title, openedAt: t.openedAt, updatedAt: t.openedAt, occurrences: 1,
                      detector: t.detector, detectorVersion: t.detectorVersion, profileID: t.profileID,
                      profileVersion: t.profileVersion, lastValue: t.lastValue, limit: t.limit, unit: t.unit, drill: t.drill,
                      customer: t.customer, tier: t.tier, criticality: t.criticality, timeZone: t.timeZone, channel: t.channel,
                      complaintOf: t.complaintOf, forecast: t.forecast)
    }

    /// Records one more occurrence on a ticket: new grade, title and last reading, and a
    /// refined forecast when the occurrence brings one (otherwise the ticket keeps its own).
    public func addOccurrence(ticketID: Int64, grade: Grade, title: String, lastValue: Double, limit: Double, at: Timestamp,
                              forecast: LimitForecast? = nil) throws {
        try db.cachedStatement(sql: """
            UPDATE ticket SET occurrences = occurrences + 1, grade = ?, title = ?, last_value = ?, limit_value = ?,
                              updated_at = MAX(updated_at, ?), forecast = COALESCE(?, forecast)
            WHERE id = ?
            """).execute(arguments: [grade.rawValue, title, lastValue, limit, at.milliseconds, try Self.json(forecast), ticketID])
    }

    /// A forecast as stored: JSON with sorted keys, times in epoch milliseconds.
    static func json(_ forecast: LimitForecast?) throws -> String? {
        guard let forecast else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(forecast), as: UTF8.self)
    }

    static func forecast(_ text: String?) -> LimitForecast? {
        text.flatMap { try? JSONDecoder().decode(LimitForecast.self, from: Data($0.utf8)) }
    }

    /// Stores a detection and its evidence samples; returns the detection id.
    @discardableResult
    public func insertDetection(_ a: Anomaly, ticketID: Int64, recordedAt: Timestamp) throws -> Int64 {
        try db.cachedStatement(sql: """
            INSERT INTO detection (ticket_id, transition, severity, sensor, detected_at, condition_since, value, limit_value,
                                   unit, detector, detector_version, profile_id, profile_version, summary, recorded_at, forecast)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
                ticketID, a.transition.rawValue, a.severity.description, a.sensor.rawValue, a.detectedAt.milliseconds,
                min(a.conditionSince.milliseconds, a.detectedAt.milliseconds), a.value, a.limit, a.unit, a.detector,
                a.detectorVersion, a.profileID, a.profileVersion, a.summary, recordedAt.milliseconds, try Self.json(a.forecast),
            ])
        let id = db.lastInsertedRowID
        let statement = try db.cachedStatement(sql: "INSERT INTO evidence_sample (detection_id, ts, value) VALUES (?, ?, ?)")
        for sample in a.evidence {
            try statement.execute(arguments: [id, sample.timestamp.milliseconds, sample.value])
        }
        return id
    }

    /// Appends to the audit trail.
    @discardableResult
    public func appendAudit(at: Timestamp, actor: String, action: String, ticketID: Int64?, detail: [String: String]) throws -> Int64 {
        let json = try canonicalDetail(detail)
        return try AuditChain.append(db, at: at, actor: actor, action: action, ticketID: ticketID, detail: json)
    }

    /// A flat string map as compact JSON, keys in code-point order (audit details,
    /// notification payloads). Written by hand like the audit chain's canonical form: it is on
    /// the desk's commit path, where a JSONEncoder per record was a fifth of the work.
    func canonicalDetail(_ detail: [String: String]) throws -> String {
        var s = "{"
        for (i, key) in detail.keys.sorted(by: { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }).enumerated() {
            if i > 0 { s += "," }
            AuditChain.appendQuoted(key, to: &s)
            s += ":"
            AuditChain.appendQuoted(detail[key]!, to: &s)
        }
        return s + "}"
    }

    static func ticket(from row: Row) -> Ticket {
        let sensor: String? = row["sensor"]
        let source: String = row["source"]
        let grade: String = row["grade"]
        let status: String = row["status"]
        return Ticket(
            id: row["id"], site: SiteID(row["site_id"]), device: DeviceID(row["device_id"]), sensor: sensor.map { SensorKey($0) },
            faultCode: FaultCode(row["fault_code"]), source: TicketSource(rawValue: source) ?? .manual,
            grade: Grade(rawValue: grade) ?? .general, status: TicketStatus(rawValue: status) ?? .new,
            title: row["title"], openedAt: Timestamp(milliseconds: row["opened_at"]), updatedAt: Timestamp(milliseconds: row["updated_at"]),
            occurrences: row["occurrences"], detector: row["detector"], detectorVersion: row["detector_version"],
            profileID: row["profile_id"], profileVersion: row["profile_version"], lastValue: row["last_value"],
            limit: row["limit_value"], unit: row["unit"], drill: row["drill"], owner: row["owner"], customer: row["customer"],
            tier: CustomerTier(rawValue: row["tier"] ?? "standard") ?? .standard, criticality: row["criticality"], timeZone: row["time_zone"],
            paused: row["paused"], channel: row["channel"], cancelReason: row["cancel_reason"], complaintOf: row["complaint_of"],
            forecast: forecast(row["forecast"]), assignee: row["assignee"])
    }
}
