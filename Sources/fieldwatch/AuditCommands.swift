import ArgumentParser
import Foundation
import Storage

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the tamper-evident audit trail.",
        discussion: """
            Every service step is an audit record holding the SHA-256 of the record before it. \
            `verify` walks the whole chain and names the first record that was modified, deleted \
            or reordered in the database file. A cut at the very end of the chain leaves no \
            trace inside the file: print the head with `audit head`, keep it somewhere else \
            (a ticket comment, an e-mail, paper) and pass it back with `verify --head`.
            """,
        subcommands: [Verify.self, Head.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the whole audit chain; exit status 0 when intact, 1 when broken.")
        @OptionGroup var location: Tickets.Location
        @Option(help: "A head hash written down earlier; verify also checks it is still in the chain.") var head: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            if let head, head.count != 64 || !head.allSatisfy(\.isHexDigit) {
                throw ValidationError("--head \(head): expected the 64 hex digits printed by `fieldwatch audit head`")
            }
            let result = try location.open().verifyAuditChain(expectedHead: head?.lowercased())
            if json {
                print(try encodeJSON(result))
            } else if let problem = result.problem {
                print("BROKEN: \(problem.message)")
                print("checked \(result.records) record(s) up to the break; restore the database from a backup taken before the tampering and keep this file as evidence")
            } else {
                print("ok: \(result.records) audit record(s), chain intact; head \(result.headID.map { "#\($0) " } ?? "")\(result.headHash)")
            }
            if !result.isIntact { throw ExitCode(1) }
        }
    }

    struct Head: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the newest audit record's id and hash, to keep elsewhere.")
        @OptionGroup var location: Tickets.Location

        func run() throws {
            guard let head = try location.open().auditHead() else {
                print("no audit records yet")
                return
            }
            print("\(head.id) \(head.hash)")
        }
    }
}

struct OutboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outbox",
        abstract: "Notifications a webhook refused too often: list them, send them again.",
        discussion: """
            Every service event goes to each webhook in order, retried with a growing pause. A \
            message a webhook refused `webhook_max_attempts` times (12 by default, about 40 \
            minutes) is set aside for that webhook so the ones after it go on; it shows here, \
            on /metrics (fieldwatch_outbox_dead_letters) and on the dashboard's board. Once the \
            receiver is fixed, `retry` puts them back in the queue, in order.
            """,
        subcommands: [Dead.self, Retry.self]
    )

    struct Dead: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the notifications set aside.")
        @OptionGroup var location: Tickets.Location
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let dead = try location.open().outboxDeadLetters()
            if json {
                struct Row: Encodable { var key, kind, destination, created_at, dead_at: String; var attempts: Int; var last_error: String? }
                print(try encodeJSON(dead.map { Row(key: $0.message.key, kind: $0.message.kind, destination: $0.destination, created_at: $0.message.createdAt.rfc3339,
                                                    dead_at: $0.deadAt.rfc3339, attempts: $0.attempts, last_error: $0.lastError) }))
                return
            }
            if dead.isEmpty { print("no notification set aside"); return }
            for d in dead {
                print("\(d.destination)  \(d.message.key) \(d.message.kind) of \(d.message.createdAt.rfc3339): \(d.attempts) attempts, last: \(d.lastError ?? "?")")
            }
            print("\(dead.count) set aside; `fieldwatch outbox retry --by NAME` sends them again once the receiver is fixed")
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put the notifications set aside back in the queue (of one webhook, or all).")
        @OptionGroup var location: Tickets.Location
        @Option(help: "Only this destination, as listed by `outbox dead` (webhook:URL).") var destination: String?
        @Option(help: "Who asks (audited).") var by: String

        func run() throws {
            let n = try location.open().retryDeadLetters(destination: destination, actor: by, at: .now())
            print(n == 0 ? "nothing to send again" : "\(n) notification(s) back in the queue; the running gateway sends them in order")
        }
    }
}
