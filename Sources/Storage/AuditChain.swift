import Crypto
import FieldwatchCore
import GRDB

/// The audit trail is a hash chain: every record stores the SHA-256 of the record before it
/// and its own hash over a canonical JSON form of its columns. Editing, deleting or
/// reordering records in the SQLite file breaks the chain at the first record touched;
/// deleting records at the tail is caught by comparing with a head hash written down
/// elsewhere (`fieldwatch audit head`).
public enum AuditChain {
    /// The `prev_hash` of the first record.
    public static let genesis = String(repeating: "0", count: 64)

    /// The canonical form a record's hash covers. Hand-written, not JSONEncoder, so the bytes
    /// never change with a Foundation release: keys sorted, no spaces, integers in decimal,
    /// strings escaped as JSON requires. `detail` is embedded as stored (it is already JSON).
    public static func canonicalJSON(id: Int64, at: Timestamp, actor: String, action: String, ticketID: Int64?,
                                     detail: String, previousHash: String) -> String {
        var s = "{\"action\":"
        appendQuoted(action, to: &s)
        s += ",\"actor\":"
        appendQuoted(actor, to: &s)
        s += ",\"at\":\(at.milliseconds),\"detail\":\(detail),\"id\":\(id),\"prev\":\"\(previousHash)\",\"ticket_id\":"
        s += ticketID.map(String.init) ?? "null"
        s += "}"
        return s
    }

    public static func hash(_ canonical: String) -> String {
        SHA256.hash(data: Array(canonical.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    static func appendQuoted(_ text: String, to s: inout String) {
        s += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                s += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: s.unicodeScalars.append(scalar)
            }
        }
        s += "\""
    }

    /// Appends one chained record inside the caller's transaction. The write transaction is
    /// IMMEDIATE, so two processes appending at once are serialised by SQLite and the chain
    /// stays linear.
    static func append(_ db: Database, at: Timestamp, actor: String, action: String, ticketID: Int64?, detail: String) throws -> Int64 {
        let last = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, hash FROM audit_record ORDER BY id DESC LIMIT 1"))
        let lastID: Int64 = last?["id"] ?? 0
        let previous: String = last?["hash"] ?? genesis
        // Ids stay contiguous (no AUTOINCREMENT gaps), so a gap is evidence of a deletion.
        let id = lastID + 1
        let hash = hash(canonicalJSON(id: id, at: at, actor: actor, action: action, ticketID: ticketID, detail: detail, previousHash: previous))
        try db.cachedStatement(sql: """
            INSERT INTO audit_record (id, at, actor, action, ticket_id, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [id, at.milliseconds, actor, action, ticketID, detail, previous, hash])
        return id
    }

    /// Fills in the chain for records written before the chain existed (migration v3).
    static func backfill(_ db: Database) throws {
        var previous = genesis
        let rows = try Row.fetchAll(db, sql: "SELECT * FROM audit_record ORDER BY id")
        for row in rows {
            let id: Int64 = row["id"]
            let hash = hash(canonicalJSON(id: id, at: Timestamp(milliseconds: row["at"]), actor: row["actor"], action: row["action"],
                                          ticketID: row["ticket_id"], detail: row["detail"], previousHash: previous))
            try db.execute(sql: "UPDATE audit_record SET prev_hash = ?, hash = ? WHERE id = ?", arguments: [previous, hash, id])
            previous = hash
        }
    }
}

/// The result of checking the whole audit chain.
public struct AuditVerification: Sendable, Equatable, Codable {
    /// What is wrong with one record.
    public struct Problem: Sendable, Equatable, Codable {
        public enum Kind: String, Sendable, Codable {
            /// The record's columns no longer match its own hash.
            case modified
            /// Records are missing between two ids.
            case deleted
            /// The record does not link to the one before it: reordered, replaced or re-hashed.
            case unlinked
            /// The head hash written down earlier is not in the chain: records were removed
            /// from the tail or the history was rewritten.
            case headMissing = "head_missing"
        }
        public var recordID: Int64?
        public var kind: Kind
        public var message: String
    }

    public var records: Int
    public var headID: Int64?
    public var headHash: String
    public var problem: Problem?
    public var isIntact: Bool { problem == nil }
}

extension TicketStore {
    /// The last record's id and hash: write it down elsewhere to detect later tail deletion.
    public func auditHead() throws(StorageError) -> (id: Int64, hash: String)? {
        try read("read audit head") { db in
            try Row.fetchOne(db, sql: "SELECT id, hash FROM audit_record ORDER BY id DESC LIMIT 1").map { ($0["id"], $0["hash"]) }
        }
    }

    /// Walks the whole chain, oldest first, and reports the first broken record. With
    /// `expectedHead`, also checks that a head written down earlier is still in the chain.
    public func verifyAuditChain(expectedHead: String? = nil) throws(StorageError) -> AuditVerification {
        try read("verify audit chain") { db in
            var previousHash = AuditChain.genesis
            var previousID: Int64 = 0
            var count = 0
            var sawExpectedHead = expectedHead == nil
            var problem: AuditVerification.Problem?
            let cursor = try Row.fetchCursor(db, sql: "SELECT * FROM audit_record ORDER BY id")
            while let row = try cursor.next() {
                let id: Int64 = row["id"]
                let stored: String = row["hash"]
                let prev: String = row["prev_hash"]
                let action: String = row["action"]
                let at = Timestamp(milliseconds: row["at"])
                let recomputed = AuditChain.hash(AuditChain.canonicalJSON(
                    id: id, at: at, actor: row["actor"], action: action, ticketID: row["ticket_id"], detail: row["detail"],
                    previousHash: prev))
                count += 1
                if recomputed != stored {
                    problem = .init(recordID: id, kind: .modified, message: """
                        audit record \(id) (\(action) at \(at.rfc3339)) was modified: its columns no longer match its hash
                        """)
                } else if id != previousID + 1 {
                    let missing = id == previousID + 2 ? "record \(previousID + 1) is" : "records \(previousID + 1)…\(id - 1) are"
                    problem = .init(recordID: id, kind: .deleted, message: """
                        audit \(missing) missing: record \(id) follows record \(previousID)
                        """)
                } else if prev != previousHash {
                    problem = .init(recordID: id, kind: .unlinked, message: """
                        audit record \(id) (\(action) at \(at.rfc3339)) does not link to record \(previousID): \
                        records were reordered, replaced or re-hashed at or before record \(id)
                        """)
                }
                if problem != nil { break }
                if stored == expectedHead { sawExpectedHead = true }
                previousHash = stored
                previousID = id
            }
            if problem == nil, !sawExpectedHead, let expectedHead {
                problem = .init(recordID: nil, kind: .headMissing, message: """
                    the head hash \(expectedHead) written down earlier is not in the chain (its last record is \(previousID)): \
                    records were removed from the end, or the history was rewritten
                    """)
            }
            return AuditVerification(records: count, headID: previousID == 0 ? nil : previousID, headHash: previousHash, problem: problem)
        }
    }
}
