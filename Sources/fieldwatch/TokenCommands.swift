import ArgumentParser
import FieldwatchCore
import Foundation
import Storage

struct Tokens: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke HTTP API tokens.",
        discussion: """
            Roles: admin (everything), supervisor (approve, regrade, cancel, audit), dispatcher (take, \
            contact, dispatch, record reports), engineer (the tickets they own, plus new ones to take), \
            customer (the sites and tickets of one organisation: --organisation, the inventory's `customer`). \
            Only a token's SHA-256 is stored: the secret is printed once, at creation.
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print its secret (once).")
        @OptionGroup var location: Tickets.Location
        @Option(help: "What the token is for, e.g. Li Wei's phone.") var name: String
        @Option(help: "admin, supervisor, dispatcher, engineer or customer.") var role: String
        @Option(help: "The person it acts as; recorded as the actor of its steps.") var subject: String
        @Option(help: "For a customer token: the organisation, as the inventory's `customer`.") var organisation: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard let r = APIToken.Role(rawValue: role) else {
                throw ValidationError("--role \(role): use \(APIToken.Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if r == .customer && organisation == nil { throw ValidationError("a customer token needs --organisation (the inventory's `customer` of its sites)") }
            if name.trimmingCharacters(in: .whitespaces).isEmpty || subject.trimmingCharacters(in: .whitespaces).isEmpty {
                throw ValidationError("--name and --subject must not be empty")
            }
        }

        func run() throws {
            let (token, secret) = try location.open(create: true).createToken(
                name: name, role: APIToken.Role(rawValue: role)!, subject: subject, organisation: organisation, at: .now())
            if json {
                struct Out: Encodable { var id: Int64; var role: String; var subject: String; var secret: String }
                print(try encodeJSON(Out(id: token.id, role: token.role.rawValue, subject: token.subject, secret: secret)))
                return
            }
            print("token #\(token.id) for \(token.subject) (\(token.role.rawValue)): \(secret)")
            print("keep it now: only its hash is stored. Use it as `Authorization: Bearer \(secret)`.")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
        @OptionGroup var location: Tickets.Location
        func run() throws {
            let tokens = try location.open().tokens()
            if tokens.isEmpty { print("no tokens; create one with `fieldwatch tokens create`"); return }
            printTable(header: ["ID", "ROLE", "SUBJECT", "ORGANISATION", "NAME", "CREATED", "REVOKED"], rows: tokens.map {
                ["#\($0.id)", $0.role.rawValue, $0.subject, $0.organisation ?? "-", $0.name, $0.createdAt.rfc3339, $0.revokedAt?.rfc3339 ?? "-"]
            })
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token; it stops working at once.")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "Token id, as listed.") var id: String
        func run() throws {
            guard let n = Int64(id.trimmingCharacters(in: CharacterSet(charactersIn: "#"))) else { throw ValidationError("\"\(id)\" is not a token id") }
            guard try location.open().revokeToken(id: n, at: .now()) else {
                throw ValidationError("no live token #\(n); `fieldwatch tokens list` shows them")
            }
            print("token #\(n) revoked")
        }
    }
}
