import FieldwatchCore
import Foundation
import Profiles
import Storage
import Yams

/// Questions and answers customers can search (Assistant/faq.yaml).
public struct FAQ: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var id: String
        public var question: String
        public var answer: String
        public var keywords: [String]
    }
    public var entries: [Entry]
    public var source: String
    public init(entries: [Entry], source: String) {
        self.entries = entries
        self.source = source
    }
    public static let empty = FAQ(entries: [], source: "no FAQ")

    public static func load(file: String) throws(ProfileError) -> FAQ {
        try parse(try ProfileLoader.readText(file), file: file)
    }

    public static func parse(_ text: String, file: String) throws(ProfileError) -> FAQ {
        let context = YAMLContext(file: file, reference: "Assistant/README.md")
        var entries: [Entry] = []
        if let node = context.compose(text), var r = MappingReader(node, path: "", context: context, what: "an FAQ") {
            if let schema = r.integer("schema", "the FAQ format version, 1"), schema != 1 {
                context.report(r.value("schema"), "schema", "schema \(schema) is not supported; this Fieldwatch reads schema 1")
            }
            var seen: Set<String> = []
            for (i, n) in (r.sequence("entries", "questions and answers") ?? []).enumerated() {
                guard var e = MappingReader(n, path: "entries[\(i)]", context: context, what: "a question and its answer") else { continue }
                let id = e.identifier("id", "a short id, such as pump-alarm-reset")
                let question = e.string("question", "the question as a customer would ask it")
                let answer = e.string("answer", "the answer")
                let keywords = e.stringList("keywords", "words customers use for it") ?? []
                e.finish()
                if let id, !seen.insert(id).inserted { context.report(e.value("id"), "entries[\(i)].id", "\"\(id)\" is used twice; ids must be unique") }
                if let id, let question, let answer { entries.append(Entry(id: id, question: question, answer: answer, keywords: keywords)) }
            }
            r.finish()
        }
        guard context.issues.isEmpty else { throw ProfileError(issues: context.issues) }
        return FAQ(entries: entries, source: file)
    }
}

/// BM25 over the FAQ. Text is lower-cased and split into words; Chinese (and other CJK)
/// text, which has no spaces, is matched by single characters and character pairs.
struct FAQIndex: Sendable {
    struct Document: Sendable {
        var entry: FAQ.Entry
        var terms: [String: Double]
        var length: Double
    }
    let documents: [Document]
    let documentFrequency: [String: Int]
    let averageLength: Double

    static let stopwords: Set<String> = ["a", "an", "the", "is", "are", "do", "does", "i", "we", "my", "our", "to", "of", "in", "on",
                                         "it", "and", "or", "what", "how", "can", "should", "be", "for", "with", "this", "that", "there",
                                         "you", "your", "me", "please", "after", "again", "any", "has", "have", "was", "were", "will", "would", "at", "from", "as"]

    static let cjkStop: Set<Character> = ["的", "了", "吗", "呢", "吧", "啊", "我", "们", "你", "是", "在", "有", "怎", "么", "办", "请", "问", "一", "下", "这", "那", "个", "和"]

    static func terms(_ text: String) -> [String] {
        var out: [String] = []
        var word = ""
        var cjk: [Character] = []
        func flushWord() {
            if !word.isEmpty && !stopwords.contains(word) { out.append(word) }
            word = ""
        }
        // Chinese has no spaces: a run of characters, minus particles, becomes its character pairs.
        func flushCJK() {
            let run = cjk.filter { !cjkStop.contains($0) }
            if run.count == 1 { out.append(String(run[0])) }
            if run.count > 1 { for i in 0..<(run.count - 1) { out.append(String(run[i]) + String(run[i + 1])) } }
            cjk = []
        }
        for ch in text.lowercased() {
            if let scalar = ch.unicodeScalars.first, (0x4E00...0x9FFF).contains(scalar.value) || (0x3400...0x4DBF).contains(scalar.value) {
                flushWord()
                cjk.append(ch)
            } else if ch.isLetter || ch.isNumber {
                flushCJK()
                word.append(ch)
            } else {
                flushWord()
                flushCJK()
            }
        }
        flushWord()
        flushCJK()
        // Light stemming so "tripped"/"trips" meet "trip" and "alarms" meets "alarm".
        return out.map { t in
            for suffix in ["ing", "ed", "es", "s"] where t.count > suffix.count + 3 && t.hasSuffix(suffix) { return String(t.dropLast(suffix.count)) }
            return t
        }
    }

    init(_ faq: FAQ) {
        var docs: [Document] = []
        var df: [String: Int] = [:]
        for e in faq.entries {
            var tf: [String: Double] = [:]
            // The question and keywords say what an entry is about: they weigh double.
            for t in Self.terms(e.question + " " + e.keywords.joined(separator: " ")) { tf[t, default: 0] += 2 }
            for t in Self.terms(e.answer) { tf[t, default: 0] += 1 }
            for t in tf.keys { df[t, default: 0] += 1 }
            docs.append(Document(entry: e, terms: tf, length: tf.values.reduce(0, +)))
        }
        documents = docs
        documentFrequency = df
        averageLength = docs.isEmpty ? 1 : docs.map(\.length).reduce(0, +) / Double(docs.count)
    }

    /// Entries by BM25 score, best first, with the share of the query's terms each one matched.
    func search(_ query: String) -> [(entry: FAQ.Entry, score: Double, coverage: Double)] {
        let q = Array(Set(Self.terms(query)))
        guard !q.isEmpty else { return [] }
        let n = Double(documents.count)
        return documents.map { d in
            var score = 0.0
            var matched = 0
            for t in q {
                guard let f = d.terms[t] else { continue }
                matched += 1
                let idf = log(1 + (n - Double(documentFrequency[t] ?? 0) + 0.5) / (Double(documentFrequency[t] ?? 0) + 0.5))
                score += idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * d.length / averageLength))
            }
            return (d.entry, score, Double(matched) / Double(q.count))
        }.filter { $0.score > 0 }.sorted { $0.score > $1.score }
    }
}

/// The assistant's reply.
public struct AssistantAnswer: Sendable, Equatable, Codable {
    public struct Source: Sendable, Equatable, Codable {
        /// faq, ticket or case
        public var kind: String
        public var id: String
        public var title: String
    }
    public var answer: String
    public var sources: [Source]
    /// faq, ticket_status, engineer_arrival, case or handover
    public var intent: String
    /// When handed over: the ticket the question went to, and whether it was opened or updated.
    public var handoverTicket: Int64?
    public var handover: String?
}

/// Answers simple customer questions from the customer's own tickets and the FAQ, and hands
/// over to a person (through a ticket) when it is not sure.
public struct Assistant: Sendable {
    public let faq: FAQ
    let index: FAQIndex
    public let workflow: TicketWorkflow

    public init(faq: FAQ, workflow: TicketWorkflow) {
        self.faq = faq
        self.index = FAQIndex(faq)
        self.workflow = workflow
    }

    static let statusWords = ["where is my", "status", "progress", "my ticket", "my repair", "what happened to", "工单", "进度", "状态", "处理到"]
    static let arrivalWords = ["engineer", "technician", "arrive", "arrival", "come", "coming", "on site", "visit", "工程师", "到场", "上门", "什么时候来", "几点"]

    /// - Parameters:
    ///   - visible: the caller's tickets (already scoped to their organisation).
    ///   - device: a device the caller picked, used when a question must become a new ticket.
    public func ask(_ question: String, visible: [Ticket], device: DeviceID?, actor: String, at: Timestamp) throws(ServiceDeskError) -> AssistantAnswer {
        let q = question.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !q.isEmpty else { throw ServiceDeskError(.invalid, "ask a question, such as \"where is my ticket?\" or \"how do I reset the pump alarm?\"") }
        guard q.count <= 2000 else { throw ServiceDeskError(.invalid, "questions are limited to 2000 characters; for a long description, report a fault") }
        let lower = q.lowercased()
        let open = visible.filter { $0.status.isOpen && !$0.drill }.sorted { $0.updatedAt > $1.updatedAt }
        let named = Self.ticketNumber(in: lower).flatMap { n in visible.first { $0.id == n } }
        let asksArrival = Self.arrivalWords.contains { lower.contains($0) } && (lower.contains("when") || lower.contains("什么时候") || lower.contains("几点")
                                                                                 || lower.contains("arrive") || lower.contains("到场") || lower.contains("上门"))
        let asksStatus = named != nil || Self.statusWords.contains { lower.contains($0) }
        if asksArrival || asksStatus {
            let subjects = named.map { [$0] } ?? open
            if subjects.isEmpty {
                return AssistantAnswer(answer: "You have no open ticket. To report a fault, use \"Report a fault\" or tell me which equipment and what happened.",
                                       sources: [], intent: asksArrival ? "engineer_arrival" : "ticket_status")
            }
            let lines = subjects.prefix(3).map { t in asksArrival ? arrival(t) : status(t) }
            return AssistantAnswer(answer: lines.joined(separator: "\n"),
                                   sources: subjects.prefix(3).map { .init(kind: "ticket", id: "\($0.id)", title: $0.title) },
                                   intent: asksArrival ? "engineer_arrival" : "ticket_status")
        }
        if let best = index.search(q).first, best.score >= 1.5, best.coverage >= 0.4 {
            return AssistantAnswer(answer: best.entry.answer.trimmingCharacters(in: .whitespacesAndNewlines),
                                   sources: [.init(kind: "faq", id: best.entry.id, title: best.entry.question)], intent: "faq")
        }
        if let past = pastCase(q, visible: visible) { return past }
        return try handOver(q, open: open, device: device, actor: actor, at: at)
    }

    /// A repair of the caller's own equipment that matches the question (the case library,
    /// limited to the caller's tickets: another customer's repairs are not theirs to read).
    func pastCase(_ q: String, visible: [Ticket]) -> AssistantAnswer? {
        let mine = Set(visible.filter { !$0.drill }.map(\.id))
        guard !mine.isEmpty, let hits = try? workflow.store.searchCases(q, limit: 20) else { return nil }
        // Enough of the question's words must be in the case, as for the FAQ.
        let asked = Set(CaseRecord.terms(q).split(separator: " ").filter { !FAQIndex.stopwords.contains(String($0)) && !["did", "last", "time", "about"].contains(String($0)) })
        guard let hit = hits.first(where: { h in
            guard let t = h.record.ticketID, mine.contains(t), h.record.fix != nil else { return false }
            let found = Set(h.record.indexText.split(separator: " "))
            return !asked.isEmpty && Double(asked.intersection(found).count) / Double(asked.count) >= 0.5
        }), let ticket = hit.record.ticketID, let fix = hit.record.fix else { return nil }
        return AssistantAnswer(answer: "A similar fault on your equipment, ticket #\(ticket) (\(hit.record.title)), was fixed: \(fix)"
                                   + (hit.record.outcome.map { " (\($0))." } ?? "."),
                               sources: [.init(kind: "case", id: "\(hit.record.id)", title: hit.record.title)], intent: "case")
    }

    static func local(_ t: Timestamp, _ zone: String?) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        f.dateFormat = "EEE d MMM HH:mm"
        return "\(f.string(from: t.date)) (\(zone ?? "UTC"))"
    }

    static func ticketNumber(in text: String) -> Int64? {
        guard let range = text.range(of: #"(#|ticket\s*|工单\s*)(\d{1,9})"#, options: .regularExpression) else { return nil }
        return Int64(text[range].filter(\.isNumber))
    }

    func clockLine(_ t: Ticket, _ kind: ClockKind) -> String? {
        guard let c = (try? workflow.store.clocks(ticketID: t.id))?.first(where: { $0.kind == kind.rawValue }) else { return nil }
        if let met = c.metAt { return "done \(Self.local(met, t.timeZone))" }
        if c.state == .paused { return "paused" }
        return c.deadline.map { "due by \(Self.local($0, t.timeZone))" }
    }

    func status(_ t: Ticket) -> String {
        let owner = t.owner.map { "\($0) is handling it" } ?? "it is waiting for an engineer to take it"
        let next: String
        switch t.status {
        case .new, .acknowledged: next = "first contact \(clockLine(t, .firstContact) ?? "soon")"
        case .contacted, .dispatched: next = "engineer on site \(clockLine(t, .onSite) ?? "soon")"
        case .onSite: next = "the engineer is on site; fix \(clockLine(t, .resolution) ?? "in progress")"
        case .resolved: next = "fixed; please confirm it on the ticket page"
        case .closed, .cancelled: next = t.status.rawValue
        }
        return "Ticket #\(t.id) (\(t.title)): \(t.status.rawValue.replacingOccurrences(of: "_", with: " ")); \(owner); \(next)."
    }

    func arrival(_ t: Ticket) -> String {
        switch t.status {
        case .onSite, .resolved, .closed: return "Ticket #\(t.id): the engineer arrived \(clockLine(t, .onSite) ?? "")."
        case .dispatched: return "Ticket #\(t.id): an engineer is on the way; on site \(clockLine(t, .onSite) ?? "as agreed")."
        default: return "Ticket #\(t.id): no engineer is dispatched yet; our commitment is on site \(clockLine(t, .onSite) ?? "as agreed")."
        }
    }

    func handOver(_ q: String, open: [Ticket], device: DeviceID?, actor: String, at: Timestamp) throws(ServiceDeskError) -> AssistantAnswer {
        let note = "I am not sure I can answer that well, so I have passed your question to our service team"
        if let ticket = open.first {
            try workflow.addNote(ticketID: ticket.id, actor: actor, action: "assistant.handover",
                                 detail: ["question": q, "note": "the assistant could not answer; a person should reply"], at: at)
            return AssistantAnswer(answer: "\(note) on ticket #\(ticket.id); they will contact you.",
                                   sources: [.init(kind: "ticket", id: "\(ticket.id)", title: ticket.title)], intent: "handover",
                                   handoverTicket: ticket.id, handover: "updated")
        }
        if let device {
            let (ticket, linked) = try workflow.report(CustomerReport(device: device, channel: .online, reporter: actor, description: q, severity: .warning), at: at)
            return AssistantAnswer(answer: "\(note): ticket #\(ticket.id) is \(linked ? "updated" : "open"); they will contact you.",
                                   sources: [.init(kind: "ticket", id: "\(ticket.id)", title: ticket.title)], intent: "handover",
                                   handoverTicket: ticket.id, handover: linked ? "updated" : "opened")
        }
        return AssistantAnswer(answer: "I am not sure I can answer that. Tell me which equipment it is about (pick it below) and I will pass your question to our service team.",
                               sources: [], intent: "handover", handoverTicket: nil, handover: "needs_device")
    }
}
