import Crypto
import FieldwatchCore
import GRDB

/// What the service workflow reads and writes inside one transaction, besides tickets:
/// status changes, pauses, SLA clocks, escalations fired, the outbox and the policy in force.
extension TicketTransaction {
    public func ticket(id: Int64) throws -> Ticket? {
        try Row.fetchOne(db, sql: "SELECT * FROM ticket WHERE id = ?", arguments: [id]).map(Self.ticket(from:))
    }

    /// Any open ticket of a device (real, not drill), oldest first, predictive ones first.
    public func openTickets(device: DeviceID) throws -> [Ticket] {
        try Row.fetchAll(db, sql: """
            SELECT * FROM ticket WHERE device_id = ? AND drill = 0 AND status NOT IN ('closed', 'cancelled')
            ORDER BY source = 'predictive' DESC, opened_at, id
            """, arguments: [device.rawValue]).map(Self.ticket(from:))
    }

    /// Open tickets (not drills) with any clock still running or a `new` status, for the escalation scan.
    public func ticketsNeedingAttention() throws -> [Ticket] {
        try Row.fetchAll(db, sql: """
            SELECT * FROM ticket WHERE drill = 0 AND status NOT IN ('closed', 'cancelled', 'resolved')
            ORDER BY id
            """).map(Self.ticket(from:))
    }

    public func updateStatus(ticketID: Int64, status: TicketStatus, owner: String?, paused: Bool, cancelReason: String?, at: Timestamp) throws {
        try db.execute(sql: """
            UPDATE ticket SET status = ?, owner = ?, paused = ?, cancel_reason = ?, updated_at = MAX(updated_at, ?) WHERE id = ?
            """, arguments: [status.rawValue, owner, paused, cancelReason, at.milliseconds, ticketID])
    }

    public func updateGrade(ticketID: Int64, grade: Grade, at: Timestamp) throws {
        try db.execute(sql: "UPDATE ticket SET grade = ?, updated_at = MAX(updated_at, ?) WHERE id = ?",
                       arguments: [grade.rawValue, at.milliseconds, ticketID])
    }

    // MARK: pauses

    public func pauses(ticketID: Int64) throws -> [PauseRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM sla_pause WHERE ticket_id = ? ORDER BY started_at, id", arguments: [ticketID]).map(Self.pause(from:))
    }

    public func startPause(ticketID: Int64, reason: String, evidence: String, actor: String, at: Timestamp) throws {
        try db.execute(sql: "INSERT INTO sla_pause (ticket_id, reason, evidence, actor, started_at) VALUES (?, ?, ?, ?, ?)",
                       arguments: [ticketID, reason, evidence, actor, at.milliseconds])
    }

    public func endPause(ticketID: Int64, at: Timestamp) throws {
        try db.execute(sql: "UPDATE sla_pause SET ended_at = MAX(started_at, ?) WHERE ticket_id = ? AND ended_at IS NULL",
                       arguments: [at.milliseconds, ticketID])
    }

    static func pause(from row: Row) -> PauseRecord {
        let ended: Int64? = row["ended_at"]
        return PauseRecord(id: row["id"], ticketID: row["ticket_id"], reason: row["reason"], evidence: row["evidence"], actor: row["actor"],
                           startedAt: Timestamp(milliseconds: row["started_at"]), endedAt: ended.map(Timestamp.init(milliseconds:)))
    }

    // MARK: clocks

    public func clocks(ticketID: Int64) throws -> [ClockRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM sla_clock WHERE ticket_id = ?", arguments: [ticketID]).map(Self.clock(from:))
    }

    public func saveClock(_ c: ClockRecord) throws {
        try db.execute(sql: """
            INSERT INTO sla_clock (ticket_id, kind, started_at, target_ms, calendar, deadline, met_at, state)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (ticket_id, kind) DO UPDATE SET started_at = excluded.started_at, target_ms = excluded.target_ms,
                calendar = excluded.calendar, deadline = excluded.deadline, met_at = excluded.met_at, state = excluded.state
            """, arguments: [c.ticketID, c.kind, c.startedAt.milliseconds, c.targetMilliseconds, c.calendar, c.deadline?.milliseconds,
                             c.metAt?.milliseconds, c.state.rawValue])
    }

    static func clock(from row: Row) -> ClockRecord {
        let deadline: Int64? = row["deadline"]
        let met: Int64? = row["met_at"]
        let state: String = row["state"]
        return ClockRecord(ticketID: row["ticket_id"], kind: row["kind"], startedAt: Timestamp(milliseconds: row["started_at"]),
                           targetMilliseconds: row["target_ms"], calendar: row["calendar"], deadline: deadline.map(Timestamp.init(milliseconds:)),
                           metAt: met.map(Timestamp.init(milliseconds:)), state: ClockRecord.State(rawValue: state) ?? .running)
    }

    // MARK: escalations

    /// Records that an escalation step fired; false when it had already fired (nothing is written).
    public func recordEscalation(ticketID: Int64, clock: String, level: String, deadline: Timestamp, dueAt: Timestamp, firedAt: Timestamp) throws -> Bool {
        try db.execute(sql: """
            INSERT OR IGNORE INTO escalation (ticket_id, clock, level, deadline, due_at, fired_at) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [ticketID, clock, level, deadline.milliseconds, dueAt.milliseconds, firedAt.milliseconds])
        return db.changesCount > 0
    }

    // MARK: outbox

    /// Queues a notification; a second message with the same key is ignored. Returns true when queued.
    @discardableResult
    public func enqueue(key: String, kind: String, topic: String, payload: [String: String], at: Timestamp) throws -> Bool {
        let json = try canonicalDetail(payload)
        try db.cachedStatement(sql: "INSERT OR IGNORE INTO outbox (created_at, key, kind, topic, payload) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [at.milliseconds, key, kind, topic, json])
        return db.changesCount > 0
    }

    /// The latest of a ticket's audit records whose action is one of `actions` (its lifecycle
    /// steps), by the time it claims.
    public func lastStep(ticketID: Int64, actions: [String]) throws -> (action: String, at: Timestamp)? {
        guard !actions.isEmpty else { return nil }
        let marks = Array(repeating: "?", count: actions.count).joined(separator: ", ")
        return try Row.fetchOne(db, sql: """
            SELECT action, at FROM audit_record WHERE ticket_id = ? AND action IN (\(marks)) ORDER BY at DESC, id DESC LIMIT 1
            """, arguments: StatementArguments([ticketID] + actions)).map { ($0["action"], Timestamp(milliseconds: $0["at"])) }
    }

    // MARK: solutions

    /// The newest solution of a ticket.
    public func latestSolution(ticketID: Int64) throws -> SolutionRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM solution WHERE ticket_id = ? ORDER BY id DESC LIMIT 1", arguments: [ticketID]).map(Self.solution(from:))
    }

    public func insertSolution(_ s: SolutionRecord) throws -> SolutionRecord {
        try db.execute(sql: """
            INSERT INTO solution (ticket_id, proposed_by, proposed_at, diagnosis, planned_work, parts, estimated_cost, status)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [s.ticketID, s.proposedBy, s.proposedAt.milliseconds, s.diagnosis, s.plannedWork, s.parts, s.estimatedCost, s.status.rawValue])
        var saved = s
        saved.id = db.lastInsertedRowID
        return saved
    }

    public func decideSolution(id: Int64, status: SolutionRecord.Status, by actor: String, at: Timestamp, note: String?) throws {
        try db.execute(sql: "UPDATE solution SET status = ?, decided_by = ?, decided_at = ?, decision_note = ? WHERE id = ?",
                       arguments: [status.rawValue, actor, at.milliseconds, note, id])
    }

    static func solution(from row: Row) -> SolutionRecord {
        let decidedAt: Int64? = row["decided_at"]
        let status: String = row["status"]
        return SolutionRecord(id: row["id"], ticketID: row["ticket_id"], proposedBy: row["proposed_by"], proposedAt: Timestamp(milliseconds: row["proposed_at"]),
                              diagnosis: row["diagnosis"], plannedWork: row["planned_work"], parts: row["parts"], estimatedCost: row["estimated_cost"],
                              status: SolutionRecord.Status(rawValue: status) ?? .proposed, decidedBy: row["decided_by"],
                              decidedAt: decidedAt.map(Timestamp.init(milliseconds:)), decisionNote: row["decision_note"])
    }

    // MARK: ratings

    @discardableResult
    public func insertRating(ticketID: Int64, score: Int, comment: String, actor: String, at: Timestamp) throws -> Int64 {
        try db.execute(sql: "INSERT INTO rating (ticket_id, score, comment, actor, at) VALUES (?, ?, ?, ?, ?)",
                       arguments: [ticketID, score, comment, actor, at.milliseconds])
        return db.lastInsertedRowID
    }

    /// The open complaint about a ticket, if any.
    public func openComplaint(about ticketID: Int64) throws -> Ticket? {
        try Row.fetchOne(db, sql: "SELECT * FROM ticket WHERE complaint_of = ? AND status NOT IN ('closed', 'cancelled')", arguments: [ticketID])
            .map(Self.ticket(from:))
    }

    // MARK: policy

    /// Stores the policy text when it differs from the one in force; returns true when it did.
    public func savePolicy(text: String, source: String, at: Timestamp) throws -> Bool {
        let hash = AuditChain.hash(text)
        let current = try String.fetchOne(db, sql: "SELECT sha256 FROM service_policy ORDER BY id DESC LIMIT 1")
        guard current != hash else { return false }
        try db.execute(sql: "INSERT INTO service_policy (loaded_at, sha256, source, text) VALUES (?, ?, ?, ?)",
                       arguments: [at.milliseconds, hash, source, text])
        return true
    }
}

extension TicketStore {
    /// The policy text the gateway stored last, with where it came from.
    public func policyInForce() throws(StorageError) -> (text: String, source: String, sha256: String)? {
        try read("read the service policy") { db in
            try Row.fetchOne(db, sql: "SELECT text, source, sha256 FROM service_policy ORDER BY id DESC LIMIT 1").map { ($0["text"], $0["source"], $0["sha256"]) }
        }
    }

    public func clocks(ticketID: Int64) throws(StorageError) -> [ClockRecord] {
        try read("read clocks of ticket \(ticketID)") { db in try TicketTransaction(db: db).clocks(ticketID: ticketID) }
    }

    public func ratings(ticketID: Int64) throws(StorageError) -> [RatingRecord] {
        try read("read ratings of ticket \(ticketID)") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM rating WHERE ticket_id = ? ORDER BY id", arguments: [ticketID]).map {
                RatingRecord(id: $0["id"], ticketID: $0["ticket_id"], score: $0["score"], comment: $0["comment"], actor: $0["actor"],
                             at: Timestamp(milliseconds: $0["at"]))
            }
        }
    }

    public func solutions(ticketID: Int64) throws(StorageError) -> [SolutionRecord] {
        try read("read solutions of ticket \(ticketID)") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM solution WHERE ticket_id = ? ORDER BY id", arguments: [ticketID]).map(TicketTransaction.solution(from:))
        }
    }

    public func pauses(ticketID: Int64) throws(StorageError) -> [PauseRecord] {
        try read("read pauses of ticket \(ticketID)") { db in try TicketTransaction(db: db).pauses(ticketID: ticketID) }
    }

    public func escalations(ticketID: Int64) throws(StorageError) -> [(clock: String, level: String, deadline: Timestamp, dueAt: Timestamp, firedAt: Timestamp)] {
        try read("read escalations of ticket \(ticketID)") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM escalation WHERE ticket_id = ? ORDER BY fired_at, due_at", arguments: [ticketID]).map {
                ($0["clock"], $0["level"], Timestamp(milliseconds: $0["deadline"]), Timestamp(milliseconds: $0["due_at"]), Timestamp(milliseconds: $0["fired_at"]))
            }
        }
    }

    /// Outbox messages, oldest first.
    public func outbox() throws(StorageError) -> [OutboxMessage] {
        try read("read the outbox") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM outbox ORDER BY id").map(Self.message(from:))
        }
    }

    static func message(from row: Row) -> OutboxMessage {
        OutboxMessage(id: row["id"], createdAt: Timestamp(milliseconds: row["created_at"]), key: row["key"], kind: row["kind"],
                      topic: row["topic"], payload: row["payload"])
    }

    /// Registers a destination; it receives messages created from `since` on (kept from its first registration).
    public func registerDestination(_ name: String, since: Timestamp) throws(StorageError) {
        _ = try writeSync { tx in
            try tx.db.execute(sql: "INSERT OR IGNORE INTO outbox_destination (name, since) VALUES (?, ?)", arguments: [name, since.milliseconds])
        }
    }

    /// Messages not yet delivered to `destination`, oldest first, with the attempts so far
    /// and when the next one is due.
    public func undelivered(to destination: String, limit: Int = 100) throws(StorageError) -> [(OutboxMessage, attempts: Int, nextAttemptAt: Timestamp)] {
        try read("read the outbox for \(destination)") { db in
            try Row.fetchAll(db, sql: """
                SELECT o.*, COALESCE(d.attempts, 0) AS tries, COALESCE(d.next_attempt_at, 0) AS next FROM outbox o
                JOIN outbox_destination dest ON dest.name = ?
                LEFT JOIN outbox_delivery d ON d.message_id = o.id AND d.destination = dest.name
                WHERE o.created_at >= dest.since AND d.delivered_at IS NULL AND d.dead_at IS NULL
                ORDER BY o.id LIMIT ?
                """, arguments: [destination, limit]).map { (Self.message(from: $0), $0["tries"], Timestamp(milliseconds: $0["next"])) }
        }
    }

    /// Records one delivery attempt: delivered, or failed with the time of the next try.
    /// `dead`: the failure was the last attempt allowed; the message is set aside.
    public func recordDelivery(messageID: Int64, destination: String, at: Timestamp, error: String?, nextAttempt: Timestamp,
                               dead: Bool = false) throws(StorageError) {
        _ = try writeSync { tx in
            try tx.db.execute(sql: """
                INSERT INTO outbox_delivery (message_id, destination, attempts, next_attempt_at, delivered_at, last_error, dead_at)
                VALUES (?, ?, 1, ?, ?, ?, ?)
                ON CONFLICT (message_id, destination) DO UPDATE SET attempts = attempts + 1, next_attempt_at = excluded.next_attempt_at,
                    delivered_at = excluded.delivered_at, last_error = excluded.last_error, dead_at = excluded.dead_at
                """, arguments: [messageID, destination, nextAttempt.milliseconds, error == nil ? at.milliseconds : nil, error,
                                 dead && error != nil ? at.milliseconds : nil])
        }
    }

    /// Messages set aside, oldest first.
    public func outboxDeadLetters() throws(StorageError) -> [OutboxDeadLetter] {
        try read("read the outbox's dead letters") { db in
            try Row.fetchAll(db, sql: """
                SELECT o.*, d.destination, d.attempts, d.last_error, d.dead_at FROM outbox_delivery d JOIN outbox o ON o.id = d.message_id
                WHERE d.dead_at IS NOT NULL ORDER BY d.destination, o.id
                """).map {
                OutboxDeadLetter(message: Self.message(from: $0), destination: $0["destination"], attempts: $0["attempts"], lastError: $0["last_error"],
                                 deadAt: Timestamp(milliseconds: $0["dead_at"]))
            }
        }
    }

    /// Puts messages set aside back in the queue (of one destination, or all), to be tried
    /// again from now, in order; returns how many. Audited when there were any.
    @discardableResult
    public func retryDeadLetters(destination: String? = nil, actor: String, at: Timestamp) throws(StorageError) -> Int {
        try writeSync { tx in
            try tx.db.execute(sql: """
                UPDATE outbox_delivery SET dead_at = NULL, attempts = 0, next_attempt_at = ? WHERE dead_at IS NOT NULL AND (? IS NULL OR destination = ?)
                """, arguments: [at.milliseconds, destination, destination])
            let n = tx.db.changesCount
            if n > 0 {
                try tx.appendAudit(at: at, actor: actor, action: "outbox.retried", ticketID: nil, detail: ["count": "\(n)", "destination": destination ?? "all"])
            }
            return n
        }
    }

    /// Delivery state of every message for every destination that tried it.
    public func deliveries() throws(StorageError) -> [OutboxDeliveryState] {
        try read("read outbox deliveries") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM outbox_delivery ORDER BY message_id, destination").map { row in
                let delivered: Int64? = row["delivered_at"]
                let dead: Int64? = row["dead_at"]
                return OutboxDeliveryState(messageID: row["message_id"], destination: row["destination"], attempts: row["attempts"],
                                           nextAttemptAt: Timestamp(milliseconds: row["next_attempt_at"]),
                                           deliveredAt: delivered.map(Timestamp.init(milliseconds:)), lastError: row["last_error"],
                                           deadAt: dead.map(Timestamp.init(milliseconds:)))
            }
        }
    }

    /// Messages created since each destination was registered and not yet delivered to it.
    public func outboxBacklog() throws(StorageError) -> Int {
        try read("count the outbox backlog") { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM outbox o JOIN outbox_destination dest ON o.created_at >= dest.since
                LEFT JOIN outbox_delivery d ON d.message_id = o.id AND d.destination = dest.name
                WHERE d.delivered_at IS NULL AND d.dead_at IS NULL
                """) ?? 0
        }
    }
}

/// Service figures for monitoring, read in one go.
public struct DeskGauges: Sendable, Equatable {
    /// Open real (not drill) tickets per grade.
    public var openByGrade: [Grade: Int]
    /// Clocks still running past their deadline.
    public var breachedRunning: Int
    /// Breaches escalated to a supervisor, ever (one per ticket, clock and deadline).
    public var breachesEscalated: Int
}

extension TicketStore {
    public func deskGauges(now: Timestamp) throws(StorageError) -> DeskGauges {
        try read("read service figures") { db in
            var byGrade: [Grade: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT grade, COUNT(*) AS n FROM ticket WHERE drill = 0 AND status NOT IN ('closed', 'cancelled') GROUP BY grade") {
                let grade: String = row["grade"]
                if let g = Grade(rawValue: grade) { byGrade[g] = row["n"] }
            }
            let breached = try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM sla_clock c JOIN ticket t ON t.id = c.ticket_id
                WHERE t.drill = 0 AND c.state = 'running' AND c.deadline < ?
                """, arguments: [now.milliseconds]) ?? 0
            let escalated = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM escalation WHERE level = 'supervisor'") ?? 0
            return DeskGauges(openByGrade: byGrade, breachedRunning: breached, breachesEscalated: escalated)
        }
    }
}

/// Everything the KPIs of a period are computed from: its tickets with their clocks.
public struct KPIRecord: Sendable, Equatable {
    public var ticket: Ticket
    public var clocks: [ClockRecord]
    /// The customer's latest rating, if any.
    public var rating: Int?
    /// Visits to site and remote assistance, oldest first.
    public var visits: [VisitRecord] = []
    public var remote: [RemoteAssistRecord] = []
    /// Another ticket for the same device and fault opened within 30 days after this one was
    /// resolved: the fix did not hold.
    public var repeated = false
    /// Lifecycle steps logged late (more than the policy's delay after their time), by who logged them.
    public var lateLogged: [String: Int] = [:]

    public init(ticket: Ticket, clocks: [ClockRecord], rating: Int?, visits: [VisitRecord] = [], remote: [RemoteAssistRecord] = [], repeated: Bool = false) {
        self.ticket = ticket
        self.clocks = clocks
        self.rating = rating
        self.visits = visits
        self.remote = remote
        self.repeated = repeated
    }
}

extension TicketStore {
    /// Real (not drill) tickets opened in [from, to), with their clocks.
    public func kpiRecords(from: Timestamp, to: Timestamp) throws(StorageError) -> [KPIRecord] {
        try read("read tickets for KPIs") { db in
            let tickets = try Row.fetchAll(db, sql: "SELECT * FROM ticket WHERE drill = 0 AND opened_at >= ? AND opened_at < ? ORDER BY id",
                                           arguments: [from.milliseconds, to.milliseconds]).map(TicketTransaction.ticket(from:))
            guard let first = tickets.first?.id, let last = tickets.last?.id else { return [] }
            let clocks = Dictionary(grouping: try Row.fetchAll(db, sql: "SELECT * FROM sla_clock WHERE ticket_id BETWEEN ? AND ?", arguments: [first, last])
                .map(TicketTransaction.clock(from:)), by: \.ticketID)
            var ratings: [Int64: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT ticket_id, score FROM rating WHERE ticket_id BETWEEN ? AND ? ORDER BY id", arguments: [first, last]) {
                ratings[row["ticket_id"]] = row["score"]
            }
            let visits = Dictionary(grouping: try Row.fetchAll(db, sql: "SELECT * FROM visit WHERE ticket_id BETWEEN ? AND ? ORDER BY started_at, id",
                                                               arguments: [first, last]).map(TicketTransaction.visit(from:)), by: \.ticketID)
            let remote = Dictionary(grouping: try Row.fetchAll(db, sql: "SELECT * FROM remote_assist WHERE ticket_id BETWEEN ? AND ? ORDER BY at, id",
                                                               arguments: [first, last]).map(TicketTransaction.remote(from:)), by: \.ticketID)
            // A repeat: the same device and fault again within 30 days of the resolution.
            var repeated: Set<Int64> = []
            for row in try Row.fetchAll(db, sql: """
                SELECT DISTINCT t.id FROM ticket t JOIN sla_clock c ON c.ticket_id = t.id AND c.kind = 'resolution' AND c.met_at IS NOT NULL
                JOIN ticket later ON later.device_id = t.device_id AND later.fault_code = t.fault_code AND later.id <> t.id AND later.drill = 0
                    AND later.opened_at > c.met_at AND later.opened_at <= c.met_at + 30 * 86400000
                WHERE t.id BETWEEN ? AND ?
                """, arguments: [first, last]) {
                repeated.insert(row["id"])
            }
            var late: [Int64: [String: Int]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT ticket_id, actor, COUNT(*) AS n FROM audit_record
                WHERE ticket_id BETWEEN ? AND ? AND action LIKE 'ticket.%' AND json_extract(detail, '$.late_logged') IS NOT NULL
                GROUP BY ticket_id, actor
                """, arguments: [first, last]) {
                late[row["ticket_id"], default: [:]][row["actor"]] = row["n"]
            }
            return tickets.map {
                var record = KPIRecord(ticket: $0, clocks: clocks[$0.id] ?? [], rating: ratings[$0.id], visits: visits[$0.id] ?? [], remote: remote[$0.id] ?? [],
                                       repeated: repeated.contains($0.id))
                record.lateLogged = late[$0.id] ?? [:]
                return record
            }
        }
    }
}
