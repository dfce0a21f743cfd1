import FieldwatchCore
import Foundation
import Profiles
import Storage

/// The case library: every closed ticket becomes a case (model, fault, detection signature,
/// diagnosis, fix, parts, labour, outcome, how long it took), FAQ entries are cases too, and a
/// new ticket is shown the three most similar past cases, each with its fix and parts.
public struct CaseLibrary: Sendable {
    public let store: TicketStore

    public init(store: TicketStore) { self.store = store }

    /// A case suggested for a ticket, and why.
    public struct Suggestion: Codable, Sendable, Equatable {
        public var id: Int64
        public var source: String
        public var ticket: Int64?
        public var model: String?
        public var fault_code: String?
        public var title: String
        public var diagnosis: String?
        public var fix: String?
        public var parts: String?
        public var labour_hours: Double?
        public var repair_minutes: Int?
        public var outcome: String?
        public var lesson: String?
        public var why: String

        public init(case c: CaseRecord, why: String) {
            id = c.id
            source = c.source
            ticket = c.ticketID
            model = c.model
            fault_code = c.faultCode
            title = c.title
            diagnosis = c.diagnosis
            fix = c.fix
            parts = c.parts
            labour_hours = c.labourHours
            repair_minutes = c.repairMinutes
            outcome = c.outcome
            lesson = c.lesson
            self.why = why
        }
    }

    /// Builds (or rebuilds) the case of a closed or resolved ticket from what was recorded;
    /// nil for a ticket that was not fixed (open, cancelled) or a drill.
    @discardableResult
    public func record(ticketID: Int64, at: Timestamp) throws(StorageError) -> CaseRecord? {
        guard let t = try store.ticket(id: ticketID), !t.drill, t.status == .closed || t.status == .resolved else { return nil }
        let visits = try store.visits(ticketID: ticketID).filter { $0.finishedAt != nil }
        let remote = try store.remoteAssists(ticketID: ticketID)
        let solutions = try store.solutions(ticketID: ticketID)
        let solution = solutions.last { $0.status == .approved || $0.status == .notRequired } ?? solutions.last
        let detections = try store.detections(ticketID: ticketID)
        let resolved = try store.clocks(ticketID: ticketID).first { $0.kind == "resolution" }?.metAt
        let fixedOn = visits.last { $0.outcome == .fixed }
        let fix = fixedOn?.work ?? remote.last { $0.outcome == .fixed }?.instructions ?? solution?.plannedWork
        let outcome: String
        if fixedOn != nil {
            outcome = visits.count == 1 ? "fixed on the first visit" : "fixed after \(visits.count) visits (\(visits.compactMap { $0.reason?.rawValue }.joined(separator: ", ")))"
        } else if remote.contains(where: { $0.outcome == .fixed }) {
            outcome = "fixed remotely"
        } else {
            outcome = "resolved"
        }
        let diagnosis = solution?.diagnosis ?? visits.compactMap(\.work).first
        let parts = visits.compactMap(\.parts).joined(separator: ",")
        let signature = Set(detections.map { "\($0.detector)@\($0.sensor.rawValue)" }).sorted().joined(separator: ",")
        let c = CaseRecord(source: "ticket", ticketID: ticketID, model: t.profileID, faultCode: t.faultCode.rawValue, title: t.title, diagnosis: diagnosis,
                           fix: fix, parts: parts.isEmpty ? nil : parts,
                           labourHours: visits.isEmpty ? nil : visits.reduce(0) { $0 + ($1.labourHours ?? 0) },
                           repairMinutes: resolved.map { Int(($0 - t.openedAt).secondsDouble / 60) }, outcome: outcome, signature: signature,
                           createdAt: at, updatedAt: at)
        return try store.writeSync { tx in try tx.saveCase(c) }
    }

    /// Every closed or resolved ticket as a case (after an upgrade, or to refresh them); returns how many.
    @discardableResult
    public func rebuild(at: Timestamp) throws(StorageError) -> Int {
        var n = 0
        for t in try store.tickets() where !t.drill && (t.status == .closed || t.status == .resolved) {
            if try record(ticketID: t.id, at: at) != nil { n += 1 }
        }
        return n
    }

    /// The FAQ's entries as cases (idempotent: an entry is replaced by its id).
    @discardableResult
    public func importFAQ(_ faq: FAQ, at: Timestamp) throws(StorageError) -> Int {
        try store.writeSync { tx in
            for e in faq.entries {
                try tx.saveCase(CaseRecord(source: "faq", faqID: e.id, title: e.question, fix: e.answer, outcome: "FAQ",
                                           signature: "", lesson: e.keywords.isEmpty ? nil : e.keywords.joined(separator: " "), createdAt: at, updatedAt: at))
            }
            return faq.entries.count
        }
    }

    /// An engineer's lesson learned on a case, audited.
    public func setLesson(caseID: Int64, lesson: String, by actor: String, at: Timestamp) throws -> CaseRecord {
        let text = lesson.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw ServiceDeskError(.invalid, "write the lesson (--text): what the next engineer should know") }
        return try store.transaction { tx in
            guard let saved = try tx.setLesson(caseID: caseID, lesson: text, at: at) else { throw ServiceDeskError(.notFound, "no case #\(caseID)") }
            try tx.appendAudit(at: at, actor: actor, action: "case.lesson", ticketID: saved.ticketID, detail: ["case": "\(caseID)", "lesson": text])
            return saved
        }
    }

    /// The three past cases most like a ticket: the same model and fault first, then the
    /// detection signature in common (detectors on sensors), then the text; the ticket's own
    /// case is left out.
    public func suggest(ticketID: Int64, limit: Int = 3) throws -> [Suggestion] {
        guard let t = try store.ticket(id: ticketID) else { throw ServiceDeskError(.notFound, "no ticket #\(ticketID)") }
        let signature = Set(try store.detections(ticketID: ticketID).map { "\($0.detector)@\($0.sensor.rawValue)" })
        let text = Dictionary(try store.searchCases(t.title + " " + t.faultCode.rawValue, limit: 50).map { ($0.record.id, $0.rank) },
                              uniquingKeysWith: { a, _ in a })
        var scored: [(c: CaseRecord, key: (Int, Double, Double), why: String)] = []
        for c in try store.cases() where c.ticketID != ticketID {
            let sameFault = c.faultCode == t.faultCode.rawValue
            let sameModel = c.model != nil && c.model == t.profileID
            let other = Set(c.signature.split(separator: ",").map(String.init))
            let overlap = signature.isEmpty || other.isEmpty ? 0 : Double(signature.intersection(other).count) / Double(signature.union(other).count)
            let rank = text[c.id]
            guard sameFault || overlap > 0 || rank != nil else { continue }
            var why: [String] = []
            if sameModel && sameFault { why.append("same model and fault") } else if sameFault { why.append("same fault on \(c.model ?? "another model")") }
            if overlap > 0 { why.append(String(format: "%.0f%% of the detection signature in common", overlap * 100)) }
            if rank != nil { why.append("similar words") }
            scored.append((c, ((sameModel && sameFault) ? 2 : sameFault ? 1 : 0, overlap, -(rank ?? 0)), why.joined(separator: "; ")))
        }
        scored.sort { a, b in
            if a.key.0 != b.key.0 { return a.key.0 > b.key.0 }
            if a.key.1 != b.key.1 { return a.key.1 > b.key.1 }
            if a.key.2 != b.key.2 { return a.key.2 > b.key.2 }
            return a.c.id > b.c.id
        }
        return scored.prefix(limit).map { Suggestion(case: $0.c, why: $0.why) }
    }
}
