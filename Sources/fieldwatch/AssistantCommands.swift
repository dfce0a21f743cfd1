import ArgumentParser
import FieldwatchCore
import Foundation
import Profiles
import ServiceDesk
import Storage

struct AssistantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "assistant",
        abstract: "The customer assistant, from the command line (to check an FAQ file).",
        subcommands: [Ask.self])

    struct Ask: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask a question as a customer would; prints the answer and its sources.",
            discussion: "Without --customer, no tickets are visible and unsure questions are not handed over (nothing is written).")
        @Argument(help: "The question.") var question: String
        @Option(help: "FAQ file (default ./Assistant/faq.yaml).") var faq = "./Assistant/faq.yaml"
        @Option(help: "Answer as this customer organisation (the inventory's `customer`), from its tickets in --db.") var customer: String?
        @Option(help: "SQLite database file (default ./fieldwatch.db), with --customer.") var db = "./fieldwatch.db"
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let loaded: FAQ
            do { loaded = try FAQ.load(file: faq) } catch {
                for issue in error.issues { print(issue) }
                throw ExitCode(1)
            }
            // Without a customer, a throw-away database: nothing is read or written.
            let path = customer == nil ? FileManager.default.temporaryDirectory.appendingPathComponent("fieldwatch-ask-\(UUID().uuidString).db").path : db
            defer { if customer == nil { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } } }
            let store = try TicketStore(path: path)
            let visible = try customer.map { org in try store.tickets().filter { $0.customer == org } } ?? []
            let assistant = Assistant(faq: loaded, workflow: TicketWorkflow(store: store, rules: .default))
            let answer: AssistantAnswer
            do { answer = try assistant.ask(question, visible: visible, device: nil, actor: "customer:\(customer ?? "cli")", at: .now()) } catch {
                throw deskFailure(error)
            }
            if json { print(try encodeJSON(answer)); return }
            print(answer.answer)
            let sources = answer.sources.map { "\($0.kind):\($0.id)" }.joined(separator: ", ")
            print("source: \(sources.isEmpty ? "none" : sources) (\(answer.intent))")
        }
    }
}
