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
