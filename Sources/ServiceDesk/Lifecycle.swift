import FieldwatchCore

/// What a person can do to a ticket. Each action is recorded with actor, time and reason.
public enum TicketAction: String, Sendable, CaseIterable, Codable {
    /// Take the ticket: the acknowledging person becomes its owner (first-responder ownership).
    case acknowledge
    /// First human contact with the customer (call, message or visit), not an automatic reply.
    case contact
    /// An engineer is sent to the site.
    case dispatch
    /// The engineer is on site.
    case arrive
    /// The fault is fixed (on site, or remotely after contact).
    case resolve
    /// The customer confirms the fix; the ticket closes.
    case confirm
    /// The fault is back, or the fix was not accepted.
    case reopen
    /// False alarm or duplicate; needs a reason, which feeds detector quality statistics.
    case cancel
    /// Stop the customer's SLA clocks for a reason from the closed list, with evidence.
    case pause
    /// Restart the clocks after a pause.
    case resume
}

/// Why SLA clocks may stop. The list is closed on purpose: a pause is the easiest way to
/// game an SLA, so each one names a reason the customer would recognise and carries evidence.
public enum PauseReason: String, Sendable, CaseIterable, Codable {
    case waitingForCustomer = "waiting_for_customer"
    case siteAccessRefused = "site_access_refused"
    case customerOwnedPart = "customer_owned_part"
}

/// The ticket state machine, as data.
public enum Lifecycle {
    /// Status after `action` from `status`; pause and resume keep the status.
    static let moves: [TicketStatus: [TicketAction: TicketStatus]] = [
        .new: [.acknowledge: .acknowledged, .cancel: .cancelled],
        .acknowledged: [.contact: .contacted, .cancel: .cancelled],
        .contacted: [.dispatch: .dispatched, .resolve: .resolved, .pause: .contacted, .cancel: .cancelled],
        .dispatched: [.arrive: .onSite, .pause: .dispatched, .cancel: .cancelled],
        .onSite: [.resolve: .resolved, .pause: .onSite, .cancel: .cancelled],
        .resolved: [.confirm: .closed, .reopen: .acknowledged],
        .closed: [.reopen: .acknowledged],
        .cancelled: [:],
    ]

    /// Actions allowed now, in lifecycle order. A paused ticket can only be resumed or cancelled.
    public static func allowedActions(from status: TicketStatus, paused: Bool) -> [TicketAction] {
        if paused { return [.resume, .cancel] }
        let allowed = moves[status] ?? [:]
        return TicketAction.allCases.filter { allowed[$0] != nil }
    }

    /// The status after `action`, or an error that says which actions are possible.
    public static func apply(_ action: TicketAction, to ticket: Ticket, paused: Bool) throws(ServiceDeskError) -> TicketStatus {
        let allowed = allowedActions(from: ticket.status, paused: paused)
        guard allowed.contains(action) else {
            let state = paused ? "\(ticket.status.rawValue) and paused" : ticket.status.rawValue
            let options = allowed.isEmpty ? "nothing: a cancelled ticket is final; report the fault again to open a new one"
                : allowed.map(\.rawValue).joined(separator: ", ")
            throw ServiceDeskError(.conflict, "ticket #\(ticket.id) is \(state); `\(action.rawValue)` is not possible from there. Possible now: \(options)")
        }
        if action == .resume { return ticket.status }
        return moves[ticket.status]![action]!
    }
}

/// The one error type of the ServiceDesk module. `kind` maps onto an HTTP status later.
public struct ServiceDeskError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        /// The request names something that does not exist.
        case notFound = "not_found"
        /// The request is well formed but not possible in the ticket's current state.
        case conflict
        /// The request is missing or has a wrong value.
        case invalid
        /// The store failed.
        case storage
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}
