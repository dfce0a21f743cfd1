import FieldwatchCore
import Storage

/// One card of the dispatcher's board: a ticket, its clocks, the clock due soonest and how far
/// the ticket has escalated for its current deadlines.
public struct BoardItem: Codable, Sendable, Equatable {
    public var ticket: TicketView
    public var clocks: [ClockView]
    /// The running clock due soonest, and how much of its target is left (0…1; negative when breached).
    public var next_clock: String?
    public var next_deadline: String?
    public var share_left: Double?
    /// warning, supervisor or management: the highest step fired for the ticket's current deadlines.
    public var escalation: String?
}

/// The board's read model: open tickets, most urgent deadline first.
public enum Board {
    /// Escalation steps from the highest down; a board card shows the highest fired.
    static let ladder = ["management", "supervisor", "warning"]

    /// Open real tickets that `visible` admits, ordered by their next deadline (none last).
    public static func items(_ store: TicketStore, now: Timestamp, visible: (Ticket) -> Bool) throws(StorageError) -> [BoardItem] {
        var items: [BoardItem] = []
        for t in try store.tickets(openOnly: true) where !t.drill && visible(t) {
            items.append(try item(t, store, now: now))
        }
        return items.sorted { ($0.next_deadline ?? "~") < ($1.next_deadline ?? "~") }
    }

    static func item(_ t: Ticket, _ store: TicketStore, now: Timestamp) throws(StorageError) -> BoardItem {
        let clocks = try store.clocks(ticketID: t.id)
        let running = clocks.compactMap { c in c.state == .running ? c.deadline.map { (clock: c, deadline: $0) } : nil }
        let next = running.min { $0.deadline < $1.deadline }
        // Only steps fired for a deadline still in force count: a regrade or a pause moves the
        // deadline, and the old escalations no longer describe the ticket.
        let deadlines = Set(clocks.compactMap { $0.deadline?.milliseconds })
        let fired = try store.escalations(ticketID: t.id).filter { deadlines.contains($0.deadline.milliseconds) }.map(\.level)
        let share = next.map { Double($0.deadline.milliseconds - now.milliseconds) / Double(max(1, $0.clock.targetMilliseconds)) }
        return BoardItem(ticket: TicketView(t), clocks: clocks.map { ClockView($0, now: now) }, next_clock: next?.clock.kind,
                         next_deadline: next?.deadline.rfc3339, share_left: share, escalation: ladder.first(where: fired.contains))
    }
}
