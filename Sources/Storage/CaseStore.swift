import FieldwatchCore
import Foundation
import GRDB

/// One case of the library: a closed ticket's fault, what was found and done, with what parts
/// and how long, or an FAQ entry.
public struct CaseRecord: Sendable, Equatable, Codable {
    public var id: Int64 = 0
    /// ticket or faq.
    public var source: String
    public var ticketID: Int64?
    public var faqID: String?
    /// The profile id (equipment model).
    public var model: String?
    public var faultCode: String?
    public var title: String
    public var diagnosis: String?
    public var fix: String?
    /// `PART:QTY,…` as the visits recorded them.
    public var parts: String?
    public var labourHours: Double?
    /// Opened → resolved.
    public var repairMinutes: Int?
    /// "fixed on the first visit", "fixed after 2 visits", "fixed remotely", or the FAQ.
    public var outcome: String?
    /// The detection signature: `detector@sensor` of what fired, sorted, comma-separated.
    public var signature: String
    /// What an engineer wrote down for next time (editable, audited).
    public var lesson: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(source: String, ticketID: Int64? = nil, faqID: String? = nil, model: String? = nil, faultCode: String? = nil, title: String,
                diagnosis: String? = nil, fix: String? = nil, parts: String? = nil, labourHours: Double? = nil, repairMinutes: Int? = nil,
                outcome: String? = nil, signature: String = "", lesson: String? = nil, createdAt: Timestamp, updatedAt: Timestamp) {
        self.source = source
        self.ticketID = ticketID
        self.faqID = faqID
        self.model = model
        self.faultCode = faultCode
        self.title = title
        self.diagnosis = diagnosis
        self.fix = fix
        self.parts = parts
        self.labourHours = labourHours
        self.repairMinutes = repairMinutes
        self.outcome = outcome
        self.signature = signature
        self.lesson = lesson
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Words for the full-text index: the text's words and, for runs of Chinese (CJK)
    /// characters, their overlapping character pairs (one character alone stays itself).
    public static func terms(_ text: String) -> String {
        var out: [String] = []
        var han: [Character] = []
        var word = ""
        func flushHan() {
            if han.count == 1 { out.append(String(han[0])) }
            if han.count > 1 { for i in 0..<(han.count - 1) { out.append(String(han[i...i + 1])) } }
            han = []
        }
        func flushWord() {
            if !word.isEmpty { out.append(word.lowercased()) }
            word = ""
        }
        for ch in text {
            if ch.unicodeScalars.allSatisfy({ (0x3400...0x9FFF).contains($0.value) || (0xF900...0xFAFF).contains($0.value) }) {
                flushWord()
                han.append(ch)
            } else if ch.isLetter || ch.isNumber {
                flushHan()
                word.append(ch)
            } else {
                flushHan()
                flushWord()
            }
        }
        flushHan()
        flushWord()
        return out.joined(separator: " ")
    }

    public var indexText: String {
        Self.terms([title, faultCode ?? "", model ?? "", diagnosis ?? "", fix ?? "", parts ?? "", lesson ?? ""].joined(separator: " \n "))
    }
}

/// A case found by a search, with its full-text rank (lower is better, bm25).
public struct CaseHit: Sendable, Equatable {
    public var record: CaseRecord
    public var rank: Double
}

extension TicketTransaction {
    /// Adds or replaces the case of a ticket (or of an FAQ entry) and its index entry.
    @discardableResult
    public func saveCase(_ c: CaseRecord) throws -> CaseRecord {
        var saved = c
        let existing: Row? = try c.ticketID.map { try Row.fetchOne(db, sql: "SELECT id, lesson, created_at FROM case_record WHERE ticket_id = ?", arguments: [$0]) }
            ?? c.faqID.flatMap { try Row.fetchOne(db, sql: "SELECT id, lesson, created_at FROM case_record WHERE faq_id = ?", arguments: [$0]) }
        if let existing {
            saved.id = existing["id"]
            saved.lesson = c.lesson ?? existing["lesson"]
            saved.createdAt = Timestamp(milliseconds: existing["created_at"])
            try db.execute(sql: """
                UPDATE case_record SET model = ?, fault_code = ?, title = ?, diagnosis = ?, fix = ?, parts = ?, labour_hours = ?, repair_minutes = ?,
                    outcome = ?, signature = ?, lesson = ?, updated_at = ? WHERE id = ?
                """, arguments: [c.model, c.faultCode, c.title, c.diagnosis, c.fix, c.parts, c.labourHours, c.repairMinutes, c.outcome, c.signature,
                                 saved.lesson, c.updatedAt.milliseconds, saved.id])
            try db.execute(sql: "DELETE FROM case_text WHERE rowid = ?", arguments: [saved.id])
        } else {
            try db.execute(sql: """
                INSERT INTO case_record (source, ticket_id, faq_id, model, fault_code, title, diagnosis, fix, parts, labour_hours, repair_minutes, outcome,
                    signature, lesson, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [c.source, c.ticketID, c.faqID, c.model, c.faultCode, c.title, c.diagnosis, c.fix, c.parts, c.labourHours, c.repairMinutes,
                                 c.outcome, c.signature, c.lesson, c.createdAt.milliseconds, c.updatedAt.milliseconds])
            saved.id = db.lastInsertedRowID
        }
        try db.execute(sql: "INSERT INTO case_text (rowid, terms) VALUES (?, ?)", arguments: [saved.id, saved.indexText])
        return saved
    }

    public func setLesson(caseID: Int64, lesson: String, at: Timestamp) throws -> CaseRecord? {
        guard var c = try TicketStore.caseRecord(db, id: caseID) else { return nil }
        c.lesson = lesson
        c.updatedAt = at
        return try saveCase(c)
    }
}

extension TicketStore {
    static func caseRecord(from row: Row) -> CaseRecord {
        var c = CaseRecord(source: row["source"], ticketID: row["ticket_id"], faqID: row["faq_id"], model: row["model"], faultCode: row["fault_code"],
                           title: row["title"], diagnosis: row["diagnosis"], fix: row["fix"], parts: row["parts"], labourHours: row["labour_hours"],
                           repairMinutes: row["repair_minutes"], outcome: row["outcome"], signature: row["signature"], lesson: row["lesson"],
                           createdAt: Timestamp(milliseconds: row["created_at"]), updatedAt: Timestamp(milliseconds: row["updated_at"]))
        c.id = row["id"]
        return c
    }

    static func caseRecord(_ db: Database, id: Int64) throws -> CaseRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM case_record WHERE id = ?", arguments: [id]).map(caseRecord(from:))
    }

    public func cases(model: String? = nil, faultCode: String? = nil) throws(StorageError) -> [CaseRecord] {
        try read("read cases") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM case_record WHERE (? IS NULL OR model = ?) AND (? IS NULL OR fault_code = ?) ORDER BY id",
                             arguments: [model, model, faultCode, faultCode]).map(Self.caseRecord(from:))
        }
    }

    public func caseRecord(id: Int64) throws(StorageError) -> CaseRecord? {
        try read("read a case") { db in try Self.caseRecord(db, id: id) }
    }

    /// Full-text search (any of the words or character pairs; best bm25 first), optionally
    /// within a model and fault code.
    public func searchCases(_ text: String, model: String? = nil, faultCode: String? = nil, limit: Int = 10) throws(StorageError) -> [CaseHit] {
        let terms = Set(CaseRecord.terms(text).split(separator: " ")).map { "\"\($0.replacingOccurrences(of: "\"", with: ""))\"" }
        guard !terms.isEmpty else { return [] }
        return try read("search cases") { db in
            try Row.fetchAll(db, sql: """
                SELECT c.*, bm25(case_text) AS rank FROM case_text JOIN case_record c ON c.id = case_text.rowid
                WHERE case_text MATCH ? AND (? IS NULL OR c.model = ?) AND (? IS NULL OR c.fault_code = ?)
                ORDER BY rank LIMIT ?
                """, arguments: [terms.joined(separator: " OR "), model, model, faultCode, faultCode, limit]).map {
                CaseHit(record: Self.caseRecord(from: $0), rank: $0["rank"])
            }
        }
    }
}
