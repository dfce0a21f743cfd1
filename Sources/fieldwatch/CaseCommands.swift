import ArgumentParser
import FieldwatchCore
import Foundation
import ServiceDesk
import Storage

struct CasesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cases",
        abstract: "The case library: past repairs (and the FAQ) to search, and the ones most like a ticket.",
        discussion: """
            Every resolved or closed ticket becomes a case by itself: model, fault, detection \
            signature, diagnosis, fix, parts, labour, outcome, time to repair. Search is full text \
            (SQLite FTS5) over words and, for Chinese, character pairs, so 跳闸 finds 跳闸 without a \
            dictionary. `rebuild` makes the cases of tickets closed before the library existed.
            """,
        subcommands: [Search.self, Suggest.self, Lesson.self, Rebuild.self, ImportFAQ.self])

    static func print(_ s: CaseLibrary.Suggestion) {
        Swift.print("case #\(s.id)\(s.ticket.map { " (ticket #\($0))" } ?? "") \(s.model ?? "") \(s.fault_code ?? ""): \(s.title)")
        if let d = s.diagnosis { Swift.print("    diagnosis: \(d)") }
        if let f = s.fix { Swift.print("    fix: \(f)") }
        if let p = s.parts { Swift.print("    parts: \(p)") }
        let took = [s.labour_hours.map { String(format: "%g labour hours", $0) }, s.repair_minutes.map { "\($0 / 60) h \($0 % 60) min to repair" }, s.outcome]
            .compactMap { $0 }
        if !took.isEmpty { Swift.print("    \(took.joined(separator: ", "))") }
        if let l = s.lesson { Swift.print("    lesson: \(l)") }
        if !s.why.isEmpty { Swift.print("    why: \(s.why)") }
    }

    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Search the cases' text, best first.")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "What to look for (words, part numbers, Chinese or English).") var text: String
        @Option(help: "Only this equipment model (profile id).") var model: String?
        @Option(help: "Only this fault code.") var fault: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let hits = try location.open().searchCases(text, model: model, faultCode: fault).map { CaseLibrary.Suggestion(case: $0.record, why: "") }
            if json { Swift.print(try encodeJSON(["cases": hits])); return }
            if hits.isEmpty { Swift.print("no case matches \"\(text)\""); return }
            hits.forEach(CasesCommand.print)
        }
    }

    struct Suggest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The three past cases most like a ticket, with their fix, parts and how long they took.",
            discussion: "Same model and fault first, then the detection signature in common, then the words.")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "Ticket id.") var ticket: Int64
        @Flag(help: "Print JSON: {\"ticket\": N, \"cases\": [...]}.") var json = false

        func run() throws {
            let cases = try CaseLibrary(store: try location.open()).suggest(ticketID: ticket)
            if json {
                struct Out: Encodable { var ticket: Int64; var cases: [CaseLibrary.Suggestion] }
                Swift.print(try encodeJSON(Out(ticket: ticket, cases: cases)))
                return
            }
            if cases.isEmpty { Swift.print("no past case like ticket #\(ticket) yet"); return }
            cases.forEach(CasesCommand.print)
        }
    }

    struct Lesson: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the lesson learned on a case (audited).")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "Case id.") var id: Int64
        @Option(help: "The lesson: what the next engineer should know.") var text: String
        @Option(name: .customLong("by"), help: "Who writes it.") var actor: String

        func run() throws {
            do {
                let c = try CaseLibrary(store: try location.open()).setLesson(caseID: id, lesson: text, by: actor, at: .now())
                Swift.print("case #\(c.id): lesson saved")
            } catch let error as ServiceDeskError {
                throw ValidationError(error.message)
            }
        }
    }

    struct Rebuild: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make (or refresh) the case of every resolved or closed ticket.")
        @OptionGroup var location: Tickets.Location

        func run() throws {
            Swift.print("\(try CaseLibrary(store: try location.open()).rebuild(at: .now())) case(s) from resolved and closed tickets")
        }
    }

    struct ImportFAQ: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "import-faq", abstract: "Add the assistant's FAQ entries as cases (idempotent).")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "The FAQ file (default ./Assistant/faq.yaml).") var file = "./Assistant/faq.yaml"

        func run() throws {
            let faq = try FAQ.load(file: file)
            Swift.print("\(try CaseLibrary(store: try location.open()).importFAQ(faq, at: .now())) FAQ entr(ies) as cases")
        }
    }
}
