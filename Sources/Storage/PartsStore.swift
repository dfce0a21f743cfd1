import FieldwatchCore
import Foundation
import GRDB

/// What an import of the parts file changed.
public struct PartsImport: Sendable, Equatable {
    public var added: [String] = []
    public var updated: [String] = []
    public var deactivated: [String] = []
    /// Stock counts set to the file's (each an `adjust` movement): "PART at LOCATION: old → new".
    public var counted: [String] = []
    public var unchanged = 0
    public var isEmpty: Bool { added.isEmpty && updated.isEmpty && deactivated.isEmpty && counted.isEmpty }
    public init() {}
}

/// One movement of stock.
public struct StockMovement: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case receive, move, reserve, release, consume, adjust
    }
    public var id: Int64 = 0
    public var at: Timestamp
    public var kind: Kind
    public var part: String
    /// Units moved (an `adjust` may be negative).
    public var quantity: Int
    public var from: String?
    public var to: String?
    public var ticketID: Int64?
    public var visitID: Int64?
    public var actor: String
    public var reason: String?

    public init(at: Timestamp, kind: Kind, part: String, quantity: Int, from: String? = nil, to: String? = nil, ticketID: Int64? = nil,
                visitID: Int64? = nil, actor: String, reason: String? = nil) {
        self.at = at
        self.kind = kind
        self.part = part
        self.quantity = quantity
        self.from = from
        self.to = to
        self.ticketID = ticketID
        self.visitID = visitID
        self.actor = actor
        self.reason = reason
    }
}

/// Stock would go negative, or a part or location is unknown: refused, with the quantities.
public struct StockError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The parts catalogue, stock per location and its movements. A small repository beside
/// `TicketStore`, like the field team's.
public protocol PartsRepository: Sendable {
    /// Makes the catalogue match the file (adds, updates, deactivates what is missing, never
    /// deletes) and sets each listed stock count with an `adjust` movement where it differs;
    /// each change audited; an identical import changes nothing.
    func importCatalogue(_ catalogue: PartsCatalogue, source: String, actor: String, at: Timestamp) throws(StorageError) -> PartsImport
    func parts(includeInactive: Bool) throws(StorageError) -> [Part]
    func stock() throws(StorageError) -> [StockLevel]
    func movements(part: String?) throws(StorageError) -> [StockMovement]
    /// Receives, moves or adjusts stock by hand, audited. Throws `StockError` (inside a
    /// `StorageError`'s message) when stock on hand would go negative.
    func record(_ movement: StockMovement, kind locationKind: StockLocationKind?) throws -> StockMovement
}

public final class SQLitePartsStore: PartsRepository {
    let store: TicketStore
    public init(_ store: TicketStore) { self.store = store }

    public func importCatalogue(_ catalogue: PartsCatalogue, source: String, actor: String, at: Timestamp) throws(StorageError) -> PartsImport {
        try store.writeSync { tx in
            var result = PartsImport()
            let db = tx.db
            var stored: [String: (Part, Bool)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT number, active, definition FROM part") {
                stored[row["number"]] = (try SQLiteFieldTeamStore.decode(Part.self, row["definition"]), row["active"])
            }
            for part in catalogue.parts {
                let json = try SQLiteFieldTeamStore.encode(part)
                if let (old, active) = stored[part.number], old == part, active {
                    result.unchanged += 1
                    continue
                }
                try db.execute(sql: """
                    INSERT INTO part (number, active, unit_cost, definition) VALUES (?, 1, ?, ?)
                    ON CONFLICT (number) DO UPDATE SET active = 1, unit_cost = excluded.unit_cost, definition = excluded.definition
                    """, arguments: [part.number, part.unitCost, json])
                let isNew = stored[part.number] == nil
                if isNew { result.added.append(part.number) } else { result.updated.append(part.number) }
                try tx.appendAudit(at: at, actor: actor, action: isNew ? "part.added" : "part.updated", ticketID: nil,
                                   detail: ["part": part.number, "unit_cost": String(format: "%.2f", part.unitCost), "source": source])
            }
            let listed = Set(catalogue.parts.map(\.number))
            for (number, (_, active)) in stored where active && !listed.contains(number) {
                try db.execute(sql: "UPDATE part SET active = 0 WHERE number = ?", arguments: [number])
                result.deactivated.append(number)
                try tx.appendAudit(at: at, actor: actor, action: "part.deactivated", ticketID: nil, detail: ["part": number, "source": source])
            }
            for line in catalogue.stock {
                let row = try Row.fetchOne(db, sql: "SELECT on_hand, reserved FROM stock WHERE location = ? AND part = ?", arguments: [line.location, line.part])
                let current: Int = row?["on_hand"] ?? 0, reserved: Int = row?["reserved"] ?? 0
                // Counted the same as stored: nothing to do (a first count of 0 still creates the location).
                if row != nil && current == line.onHand { continue }
                if row == nil && line.onHand == 0 {
                    try db.execute(sql: "INSERT INTO stock (location, kind, part, on_hand, reserved) VALUES (?, ?, ?, 0, 0)",
                                   arguments: [line.location, line.kind.rawValue, line.part])
                    result.counted.append("\(line.part) at \(line.location): 0")
                    continue
                }
                if line.onHand < reserved {
                    throw StockError("\(line.part) at \(line.location): the file counts \(line.onHand) but \(reserved) are reserved for assigned tickets; count again or release them first")
                }
                _ = try Self.apply(StockMovement(at: at, kind: .adjust, part: line.part, quantity: line.onHand - current, to: line.location,
                                                 actor: actor, reason: "counted in \(source)"), locationKind: line.kind, in: tx)
                result.counted.append("\(line.part) at \(line.location): \(current) → \(line.onHand)")
            }
            return result
        }
    }

    public func parts(includeInactive: Bool) throws(StorageError) -> [Part] {
        try store.read("read the parts catalogue") { db in
            try Row.fetchAll(db, sql: "SELECT definition FROM part" + (includeInactive ? "" : " WHERE active = 1") + " ORDER BY number")
                .map { try SQLiteFieldTeamStore.decode(Part.self, $0["definition"]) }
        }
    }

    public func stock() throws(StorageError) -> [StockLevel] {
        try store.read("read stock") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM stock ORDER BY part, kind, location").map {
                StockLevel(location: $0["location"], kind: StockLocationKind(rawValue: $0["kind"]) ?? .warehouse, part: $0["part"],
                           onHand: $0["on_hand"], reserved: $0["reserved"])
            }
        }
    }

    public func movements(part: String?) throws(StorageError) -> [StockMovement] {
        try store.read("read stock movements") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM stock_movement WHERE ? IS NULL OR part = ? ORDER BY id", arguments: [part, part]).map(Self.movement(from:))
        }
    }

    public func record(_ movement: StockMovement, kind locationKind: StockLocationKind?) throws -> StockMovement {
        try store.transaction { tx in try Self.apply(movement, locationKind: locationKind, in: tx) }
    }

    static func movement(from row: Row) -> StockMovement {
        var m = StockMovement(at: Timestamp(milliseconds: row["at"]), kind: StockMovement.Kind(rawValue: row["kind"]) ?? .adjust, part: row["part"],
                              quantity: row["quantity"], from: row["from_location"], to: row["to_location"], ticketID: row["ticket_id"],
                              visitID: row["visit_id"], actor: row["actor"], reason: row["reason"])
        m.id = row["id"]
        return m
    }

    /// One movement inside the caller's transaction: checks, the stock rows, the record and its
    /// audit. `locationKind` is the kind of a location the movement creates (receive, adjust,
    /// or a move to a new place).
    @discardableResult
    public static func apply(_ m: StockMovement, locationKind: StockLocationKind?, in tx: TicketTransaction) throws -> StockMovement {
        let db = tx.db
        guard try Bool.fetchOne(db, sql: "SELECT active FROM part WHERE number = ?", arguments: [m.part]) != nil else {
            throw StockError("no part \(m.part) in the catalogue; `fieldwatch parts import FILE` adds it")
        }
        func level(_ location: String) throws -> (onHand: Int, reserved: Int, exists: Bool) {
            guard let row = try Row.fetchOne(db, sql: "SELECT on_hand, reserved FROM stock WHERE location = ? AND part = ?", arguments: [location, m.part]) else {
                return (0, 0, false)
            }
            return (row["on_hand"], row["reserved"], true)
        }
        func change(_ location: String, onHand: Int, reserved: Int, kind: StockLocationKind?) throws {
            let current = try level(location)
            if !current.exists {
                guard let kind else { throw StockError("no stock location \(location) holds \(m.part); name its kind (warehouse, service_point or van) to create it") }
                try db.execute(sql: "INSERT INTO stock (location, kind, part, on_hand, reserved) VALUES (?, ?, ?, 0, 0)", arguments: [location, kind.rawValue, m.part])
            }
            let newOnHand = current.onHand + onHand, newReserved = current.reserved + reserved
            guard newOnHand >= 0 else {
                throw StockError("\(m.part) at \(location): \(current.onHand) on hand, \(abs(onHand)) asked; stock cannot go negative")
            }
            guard newReserved >= 0, newReserved <= newOnHand else {
                throw StockError("\(m.part) at \(location): \(current.onHand) on hand, \(current.reserved) reserved; \(newOnHand - current.reserved < 0 ? "not enough" : "the reservation does not fit") (\(m.kind.rawValue) \(abs(m.quantity)))")
            }
            try db.execute(sql: "UPDATE stock SET on_hand = ?, reserved = ? WHERE location = ? AND part = ?", arguments: [newOnHand, newReserved, location, m.part])
        }
        let q = m.quantity
        switch m.kind {
        case .receive:
            guard q > 0, let to = m.to else { throw StockError("receive: give a positive quantity and where it goes (--to)") }
            try change(to, onHand: q, reserved: 0, kind: locationKind)
        case .adjust:
            guard let to = m.to, m.reason?.isEmpty == false else { throw StockError("adjust: give the location and a reason (a count, damage, loss)") }
            try change(to, onHand: q, reserved: 0, kind: locationKind)
        case .move:
            guard q > 0, let from = m.from, let to = m.to, from != to else { throw StockError("move: give a positive quantity and two different locations (--from, --to)") }
            let available = try level(from)
            guard available.onHand - available.reserved >= q else {
                throw StockError("\(m.part) at \(from): \(available.onHand) on hand, \(available.reserved) reserved, \(available.onHand - available.reserved) available; cannot move \(q)")
            }
            try change(from, onHand: -q, reserved: 0, kind: nil)
            try change(to, onHand: q, reserved: 0, kind: locationKind)
        case .reserve:
            guard q > 0, let from = m.from else { throw StockError("reserve: give a positive quantity and a location") }
            try change(from, onHand: 0, reserved: q, kind: nil)
        case .release:
            guard q > 0, let from = m.from else { throw StockError("release: give a positive quantity and a location") }
            try change(from, onHand: 0, reserved: -q, kind: nil)
        case .consume:
            // Consumed from a location (and from its reservation for the ticket first), or, when
            // no location holds it, recorded without one: the records were wrong, not the repair.
            guard q > 0 else { throw StockError("consume: give a positive quantity") }
            // Only free stock is consumed: a ticket using what it holds reserved releases it first.
            if let from = m.from {
                let free = try level(from)
                guard free.onHand - free.reserved >= q else {
                    throw StockError("\(m.part) at \(from): \(free.onHand) on hand, \(free.reserved) reserved for other tickets; cannot use \(q)")
                }
                try change(from, onHand: -q, reserved: 0, kind: nil)
            }
        }
        var saved = m
        try db.execute(sql: """
            INSERT INTO stock_movement (at, kind, part, quantity, from_location, to_location, ticket_id, visit_id, actor, reason)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [m.at.milliseconds, m.kind.rawValue, m.part, m.quantity, m.from, m.to, m.ticketID, m.visitID, m.actor, m.reason])
        saved.id = db.lastInsertedRowID
        var detail = ["part": m.part, "quantity": "\(m.quantity)", "movement": "\(saved.id)"]
        if let from = m.from { detail["from"] = from }
        if let to = m.to { detail["to"] = to }
        if let reason = m.reason { detail["reason"] = reason }
        try tx.appendAudit(at: m.at, actor: m.actor, action: "stock.\(m.kind.rawValue)", ticketID: m.ticketID, detail: detail)
        return saved
    }

    /// Units of `part` this ticket holds reserved at each location.
    static func reservations(ticketID: Int64, part: String?, db: Database) throws -> [(location: String, part: String, quantity: Int)] {
        try Row.fetchAll(db, sql: """
            SELECT from_location, part, SUM(CASE kind WHEN 'reserve' THEN quantity ELSE -quantity END) AS held FROM stock_movement
            WHERE ticket_id = ? AND (? IS NULL OR part = ?) AND kind IN ('reserve', 'release') AND from_location IS NOT NULL
            GROUP BY from_location, part HAVING held > 0 ORDER BY from_location
            """, arguments: [ticketID, part, part]).map { ($0["from_location"], $0["part"], $0["held"]) }
    }

    /// Reserves a ticket's fault parts for the engineer sent to it, inside the assignment's
    /// transaction: each part from the nearest place that has it available (their van, their
    /// service point, then the warehouse with the most). What nothing holds is returned (the
    /// ticket will wait for it). A ticket reassigned first releases what it held.
    public static func reserve(_ parts: [(part: String, quantity: Int)], ticketID: Int64, engineer: String, actor: String, at: Timestamp,
                               in tx: TicketTransaction) throws -> (reserved: [String], missing: [String]) {
        let db = tx.db
        try release(ticketID: ticketID, actor: actor, reason: "reassigned to \(engineer)", at: at, in: tx)
        let servicePoint = try String.fetchOne(db, sql: "SELECT service_point FROM engineer WHERE id = ?", arguments: [engineer])
        var reserved: [String] = [], missing: [String] = []
        for (part, quantity) in parts {
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM part WHERE number = ? AND active = 1", arguments: [part]) != nil else { continue }
            var left = quantity
            for row in try Row.fetchAll(db, sql: """
                SELECT location, on_hand - reserved AS free FROM stock WHERE part = ? AND on_hand - reserved > 0 AND (
                    (kind = 'van' AND location = ?) OR (kind = 'service_point' AND location IS ?) OR kind = 'warehouse')
                ORDER BY CASE WHEN kind = 'van' THEN 0 WHEN kind = 'service_point' THEN 1 ELSE 2 END, free DESC
                """, arguments: [part, engineer, servicePoint]) where left > 0 {
                let take = min(left, row["free"] as Int)
                let location: String = row["location"]
                try apply(StockMovement(at: at, kind: .reserve, part: part, quantity: take, from: location, ticketID: ticketID, actor: actor,
                                        reason: "for \(engineer) on ticket #\(ticketID)"), locationKind: nil, in: tx)
                reserved.append("\(part) ×\(take) at \(location)")
                left -= take
            }
            if left > 0 { missing.append("\(part) ×\(left)") }
        }
        return (reserved, missing)
    }

    /// Releases whatever a ticket still holds reserved (cancelled, reassigned, or fixed with less).
    public static func release(ticketID: Int64, actor: String, reason: String, at: Timestamp, in tx: TicketTransaction) throws {
        for r in try reservations(ticketID: ticketID, part: nil, db: tx.db) {
            try apply(StockMovement(at: at, kind: .release, part: r.part, quantity: r.quantity, from: r.location, ticketID: ticketID, actor: actor,
                                    reason: reason), locationKind: nil, in: tx)
        }
    }

    /// Consumes what a visit used, inside the visit's transaction: each part first from where
    /// the ticket holds it reserved, then from the engineer's van, their service point and the
    /// warehouses (most stock first), never taking what other tickets hold reserved; what no
    /// location can give is recorded without one and named in the result (the records were
    /// wrong, not the repair, so the visit is not refused). Parts outside the catalogue are not
    /// stock-managed and are left alone.
    public static func consume(_ parts: [(part: String, quantity: Int)], engineer: String, ticketID: Int64, visitID: Int64, at: Timestamp,
                               in tx: TicketTransaction) throws -> [String] {
        let db = tx.db
        var unsourced: [String] = []
        let servicePoint = try String.fetchOne(db, sql: "SELECT service_point FROM engineer WHERE id = ?", arguments: [engineer])
        for (part, quantity) in parts {
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM part WHERE number = ?", arguments: [part]) != nil else { continue }
            let mine = Dictionary(try reservations(ticketID: ticketID, part: part, db: db).map { ($0.location, $0.quantity) }, uniquingKeysWith: +)
            var left = quantity
            let nearest = try Row.fetchAll(db, sql: """
                SELECT location, on_hand, reserved FROM stock WHERE part = ? AND on_hand > 0 AND (
                    (kind = 'van' AND location = ?) OR (kind = 'service_point' AND location IS ?) OR kind = 'warehouse')
                ORDER BY CASE WHEN kind = 'van' THEN 0 WHEN kind = 'service_point' THEN 1 ELSE 2 END, on_hand DESC
                """, arguments: [part, engineer, servicePoint])
            let held = try Row.fetchAll(db, sql: "SELECT location, on_hand, reserved FROM stock WHERE part = ?", arguments: [part])
                .filter { mine[$0["location"] as String] != nil }
            // Where the ticket holds it reserved first, then the nearest; each place once.
            let ordered = held + nearest
            var seen: Set<String> = []
            for row in ordered where left > 0 {
                let location: String = row["location"]
                guard seen.insert(location).inserted else { continue }
                let usable = (row["on_hand"] as Int) - (row["reserved"] as Int) + (mine[location] ?? 0)
                let take = min(left, usable)
                guard take > 0 else { continue }
                if let held = mine[location], held > 0 {
                    try apply(StockMovement(at: at, kind: .release, part: part, quantity: min(take, held), from: location, ticketID: ticketID, visitID: visitID,
                                            actor: engineer, reason: "used on visit #\(visitID)"), locationKind: nil, in: tx)
                }
                try apply(StockMovement(at: at, kind: .consume, part: part, quantity: take, from: location, ticketID: ticketID, visitID: visitID,
                                        actor: engineer, reason: "used on visit #\(visitID)"), locationKind: nil, in: tx)
                left -= take
            }
            if left > 0 {
                try apply(StockMovement(at: at, kind: .consume, part: part, quantity: left, ticketID: ticketID, visitID: visitID, actor: engineer,
                                        reason: "used on visit #\(visitID), but no location held it: count the stock"), locationKind: nil, in: tx)
                unsourced.append("\(part) ×\(left)")
            }
        }
        return unsourced
    }
}
