import FieldwatchCore
import FieldwatchTesting
import Foundation
import GRDB
import Testing
@testable import Storage

/// Tampering is done the way an attacker with the file would do it: straight SQL on the
/// SQLite file, triggers dropped first.
@Suite("Audit hash chain")
struct AuditChainTests {
    func storeWithRecords(_ n: Int) throws -> (TicketStore, String) {
        let path = try makeTemporaryDirectory().appendingPathComponent("audit.db").path
        let store = try TicketStore(path: path)
        try store.writeSync { tx in
            for i in 1...n {
                try tx.appendAudit(at: Timestamp(milliseconds: 1_764_240_000_000 + Int64(i) * 1000), actor: "user:li.wei",
                                   action: "ticket.step\(i)", ticketID: nil, detail: ["n": "\(i)", "note": "quote \" and\nnewline"])
            }
        }
        return (store, path)
    }

    func tamper(_ path: String, _ sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER IF EXISTS audit_record_no_update; DROP TRIGGER IF EXISTS audit_record_no_delete;")
            try db.execute(sql: sql)
        }
    }

    @Test func anUntouchedChainVerifiesAndLinksEveryRecord() throws {
        let (store, _) = try storeWithRecords(5)
        let result = try store.verifyAuditChain()
        #expect(result.isIntact && result.records == 5 && result.headID == 5)
        let records = try store.auditRecords()
        #expect(records.last?.hash == result.headHash)
        #expect(Set(records.map(\.hash)).count == 5)
        #expect(try store.auditHead()?.hash == result.headHash)
    }

    @Test func theCanonicalFormIsStableAndEscaped() {
        let json = AuditChain.canonicalJSON(id: 7, at: Timestamp(milliseconds: 42), actor: "a\"b", action: "x\u{1}", ticketID: nil,
                                            detail: "{\"k\":\"v\"}", previousHash: "00")
        #expect(json == #"{"action":"x\u0001","actor":"a\"b","at":42,"detail":{"k":"v"},"id":7,"prev":"00","ticket_id":null}"#)
        // Known SHA-256 of "abc" (FIPS 180-2 example).
        #expect(AuditChain.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func anEditedRecordIsNamed() throws {
        let (store, path) = try storeWithRecords(5)
        try tamper(path, "UPDATE audit_record SET actor = 'user:someone.else' WHERE id = 3")
        let problem = try #require(try store.verifyAuditChain().problem)
        #expect(problem.recordID == 3 && problem.kind == .modified)
        #expect(problem.message.contains("audit record 3") && problem.message.contains("ticket.step3"))
    }

    @Test func anEditWithARecomputedHashBreaksTheNextLink() throws {
        let (store, path) = try storeWithRecords(5)
        let r = try #require(try store.auditRecords().first { $0.id == 3 })
        let prev = try #require(try store.auditRecords().first { $0.id == 2 }).hash
        let forged = AuditChain.hash(AuditChain.canonicalJSON(id: 3, at: r.at, actor: "user:forger", action: r.action, ticketID: nil,
                                                              detail: r.detail, previousHash: prev))
        try tamper(path, "UPDATE audit_record SET actor = 'user:forger', hash = '\(forged)' WHERE id = 3")
        let problem = try #require(try store.verifyAuditChain().problem)
        #expect(problem.recordID == 4 && problem.kind == .unlinked)
    }

    @Test func aDeletedRecordIsNamed() throws {
        let (store, path) = try storeWithRecords(5)
        try tamper(path, "DELETE FROM audit_record WHERE id = 2")
        let problem = try #require(try store.verifyAuditChain().problem)
        #expect(problem.recordID == 3 && problem.kind == .deleted)
        #expect(problem.message.contains("record 2 is missing"))
    }

    @Test func reorderedRecordsAreDetected() throws {
        let (store, path) = try storeWithRecords(5)
        // Swap the ids of records 2 and 3 (through a free id, as the primary key demands).
        try tamper(path, """
            UPDATE audit_record SET id = 100 WHERE id = 2;
            UPDATE audit_record SET id = 2 WHERE id = 3;
            UPDATE audit_record SET id = 3 WHERE id = 100;
            """)
        let problem = try #require(try store.verifyAuditChain().problem)
        #expect(problem.recordID == 2)
    }

    @Test func aTruncatedTailIsCaughtWithTheHeadWrittenDownEarlier() throws {
        let (store, path) = try storeWithRecords(5)
        let head = try #require(try store.auditHead())
        #expect(try store.verifyAuditChain(expectedHead: head.hash).isIntact)
        try tamper(path, "DELETE FROM audit_record WHERE id >= 4")
        #expect(try store.verifyAuditChain().isIntact, "without the head, a clean cut at the tail is invisible")
        let problem = try #require(try store.verifyAuditChain(expectedHead: head.hash).problem)
        #expect(problem.kind == .headMissing && problem.message.contains("last record is 3"))
    }

    @Test func appendingAfterReopeningContinuesTheChain() throws {
        let (store, path) = try storeWithRecords(2)
        _ = store
        let reopened = try TicketStore(path: path)
        try reopened.writeSync { tx in _ = try tx.appendAudit(at: Timestamp(milliseconds: 5), actor: "system", action: "x", ticketID: nil, detail: [:]) }
        let result = try reopened.verifyAuditChain()
        #expect(result.isIntact && result.records == 3)
    }
}
