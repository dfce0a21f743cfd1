import FieldwatchCore
import ServiceDesk
import Storage

/// Who may do what, as data. A role that may never do something gets 403; a record outside
/// the caller's scope (another organisation's ticket, an engineer's colleague's ticket) is
/// answered 404, so its existence does not leak.
public enum Access {
    public enum Operation: Hashable, Sendable, CustomStringConvertible {
        case readSites
        case readTickets
        case report
        case step(TicketAction)
        case propose
        case decide
        case regrade
        case rate
        case ask
        case verifyAudit
        case readTeam
        case dispatch
        case locate
        case visit
        case acceptVisit
        case remote
        case readCosts
        case notifications

        public var description: String {
            switch self {
            case .readSites: "read sites and devices"
            case .readTickets: "read tickets"
            case .report: "report a fault"
            case let .step(a): a.rawValue
            case .propose: "propose a solution"
            case .decide: "approve or reject a solution"
            case .regrade: "change a grade"
            case .rate: "rate a fixed fault"
            case .ask: "ask the assistant"
            case .verifyAudit: "verify the audit chain"
            case .readTeam: "read the field team"
            case .dispatch: "rank and assign engineers"
            case .locate: "record an engineer's position"
            case .visit: "check in at a site or finish a visit"
            case .acceptVisit: "accept a check-in made away from the site"
            case .remote: "record remote assistance"
            case .readCosts: "read repair costs"
            case .notifications: "see and resend notifications set aside"
            }
        }
    }

    typealias Role = APIToken.Role
    static let everyone: Set<Role> = Set(Role.allCases)
    static let staff: Set<Role> = [.admin, .supervisor, .dispatcher]

    /// The roles allowed each operation.
    public static func roles(for operation: Operation) -> Set<APIToken.Role> {
        switch operation {
        case .readSites, .readTickets, .ask: everyone
        case .report: staff.union([.customer])
        case let .step(action):
            switch action {
            case .acknowledge, .contact: staff.union([.engineer])
            case .dispatch, .cancel: staff
            case .arrive, .resolve: [.admin, .supervisor, .engineer]
            case .pause, .resume: staff.union([.engineer])
            case .confirm: [.admin, .supervisor, .customer]
            case .reopen: staff.union([.customer])
            }
        case .propose: [.admin, .supervisor, .engineer]
        case .decide, .regrade, .verifyAudit, .notifications: [.admin, .supervisor]
        case .rate: staff.union([.customer])
        case .readTeam, .locate, .visit, .remote: staff.union([.engineer])
        case .acceptVisit: [.admin, .supervisor]
        case .dispatch, .readCosts: staff
        }
    }

    /// 403 unless the caller's role may do `operation`.
    static func require(_ operation: Operation, _ token: APIToken) throws {
        let allowed = roles(for: operation)
        guard allowed.contains(token.role) else {
            throw APIError(.forbidden, "forbidden", """
                a \(token.role.rawValue) token may not \(operation); roles that may: \(Role.allCases.filter(allowed.contains).map(\.rawValue).joined(separator: ", "))
                """)
        }
    }

    /// Whether a ticket is in the caller's scope: customers see their organisation's, engineers
    /// the ones they own or are sent to, plus new unowned ones (to take them, first-responder style).
    public static func canSee(_ ticket: Ticket, _ token: APIToken) -> Bool {
        switch token.role {
        case .admin, .supervisor, .dispatcher: true
        case .engineer: ticket.owner == token.subject || ticket.assignee == token.subject || (ticket.owner == nil && ticket.status == .new)
        case .customer: ticket.customer != nil && ticket.customer == token.organisation && !ticket.drill
        }
    }

    /// Whether a site is in the caller's scope (customers: their organisation's).
    public static func canSee(siteCustomer: String, _ token: APIToken) -> Bool {
        token.role != .customer || siteCustomer == token.organisation
    }
}
