import Crypto
import FieldwatchCore
import Foundation
import GRDB

/// Who an API token speaks for.
public struct APIToken: Sendable, Equatable, Codable {
    public enum Role: String, Sendable, CaseIterable, Codable {
        /// Everything, including the audit chain.
        case admin
        /// Approves solutions, regrades and cancels, sees every ticket and the audit chain.
        case supervisor
        /// Takes, contacts, dispatches, records reports; sees every ticket.
        case dispatcher
        /// Works the tickets they own.
        case engineer
        /// Sees and reports for the sites of one organisation.
        case customer
    }
    public var id: Int64
    /// What the token is for ("Li Wei's phone").
    public var name: String
    public var role: Role
    /// The person the token acts as; recorded as the actor of every step it takes.
    public var subject: String
    /// For a customer: the organisation (the inventory's `customer`) whose sites it may see.
    public var organisation: String?
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?
}

extension TicketStore {
    /// Creates a token and returns it with its secret, which is not stored and cannot be shown again.
    public func createToken(name: String, role: APIToken.Role, subject: String, organisation: String?, at: Timestamp) throws(StorageError) -> (APIToken, secret: String) {
        var bytes = [UInt8](repeating: 0, count: 24)
        var generator = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &generator) }
        let secret = "fw_" + bytes.map { String(format: "%02x", $0) }.joined()
        let hash = AuditChain.hash(secret)
        let id = try writeSync { tx -> Int64 in
            try tx.db.execute(sql: "INSERT INTO api_token (name, role, subject, organisation, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                              arguments: [name, role.rawValue, subject, organisation, hash, at.milliseconds])
            let id = tx.db.lastInsertedRowID
            try tx.appendAudit(at: at, actor: "system", action: "token.created", ticketID: nil,
                               detail: ["token_id": "\(id)", "name": name, "role": role.rawValue, "subject": subject, "organisation": organisation ?? ""])
            return id
        }
        return (APIToken(id: id, name: name, role: role, subject: subject, organisation: organisation, createdAt: at, revokedAt: nil), secret)
    }

    /// The live token with this secret, if any.
    public func token(secret: String) throws(StorageError) -> APIToken? {
        let hash = AuditChain.hash(secret)
        return try read("look up an API token") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM api_token WHERE sha256 = ? AND revoked_at IS NULL", arguments: [hash]).map(Self.token(from:))
        }
    }

    public func tokens() throws(StorageError) -> [APIToken] {
        try read("list API tokens") { db in try Row.fetchAll(db, sql: "SELECT * FROM api_token ORDER BY id").map(Self.token(from:)) }
    }

    /// Revokes a token; false when there was no live token with that id.
    public func revokeToken(id: Int64, at: Timestamp) throws(StorageError) -> Bool {
        try writeSync { tx in
            try tx.db.execute(sql: "UPDATE api_token SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [at.milliseconds, id])
            guard tx.db.changesCount > 0 else { return false }
            try tx.appendAudit(at: at, actor: "system", action: "token.revoked", ticketID: nil, detail: ["token_id": "\(id)"])
            return true
        }
    }

    static func token(from row: Row) -> APIToken {
        let role: String = row["role"]
        let revoked: Int64? = row["revoked_at"]
        return APIToken(id: row["id"], name: row["name"], role: APIToken.Role(rawValue: role) ?? .customer, subject: row["subject"],
                        organisation: row["organisation"], createdAt: Timestamp(milliseconds: row["created_at"]),
                        revokedAt: revoked.map(Timestamp.init(milliseconds:)))
    }
}
