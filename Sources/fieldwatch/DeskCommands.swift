import ArgumentParser
import FieldwatchCore
import Foundation
import Gateway
import Profiles
import ServiceDesk
import Storage

/// The rules the command line works with: the policy the gateway stored in the database
/// (or `--policy`, or the built-in default), and the inventory for customer reports.
struct DeskOptions: ParsableArguments {
    @OptionGroup var location: Tickets.Location
    @Option(help: "Service policy YAML to use instead of the one the gateway stored in the database.") var policy: String?

    func open(directory: SiteDirectory = SiteDirectory(), create: Bool = false) throws -> TicketWorkflow {
        let store = try location.open(create: create)
        return TicketWorkflow(store: store, rules: ServiceRules(policy: try loadPolicy(store), directory: directory))
    }

    func loadPolicy(_ store: TicketStore) throws -> ServicePolicy {
        do {
            if let policy { return try ServicePolicy.load(file: policy) }
            if let stored = try store.policyInForce() { return try ServicePolicy.parse(stored.text, file: "\(stored.source) (as stored in \(location.db))") }
        } catch let error as ProfileError {
            throw ValidationError("the service policy is not valid:\n\(error)")
        }
        return .default
    }
}

/// What every lifecycle step takes.
struct StepOptions: ParsableArguments {
    @OptionGroup var desk: DeskOptions
    @Argument(help: "Ticket id (as listed, with or without #).") var id: String
    @Option(name: .customLong("by"), help: "Who does it (a person's name or id); recorded in the audit trail.") var actor: String
    @Option(help: "Why, in a few words (required to cancel and reopen).") var reason: String?
    @Option(help: "When it happened, RFC 3339 (default now); for a call logged afterwards.") var at: String?
    @Flag(help: "Print the ticket and its clocks as JSON.") var json = false

    func ticketID() throws -> Int64 { try parseTicketID(id) }

    func time() throws -> Timestamp { try pastTime(at) }

    func perform(_ action: TicketAction, pause: (PauseReason, String)? = nil) throws {
        let workflow = try desk.open()
        let (id, at) = (try ticketID(), try time())
        let ticket: Ticket
        do {
            ticket = try workflow.perform(action, ticketID: id, actor: actor, reason: pause == nil ? reason : nil,
                                          pause: pause.map { (reason: $0.0, evidence: $0.1) }, at: at)
        } catch {
            throw deskFailure(error)
        }
        try report(ticket, store: workflow.store, json: json, headline: "ticket #\(ticket.id) \(action.pastTense) by \(actor); now \(ticket.status.rawValue)\(ticket.paused ? ", paused" : "")")
    }
}

/// Sites and devices for commands that name a device.
func loadDirectory(inventory: String, profiles: String) throws -> SiteDirectory {
    let (inv, loaded) = try loadInventory(inventory: inventory, profiles: profiles)
    return SiteDirectory(inventory: inv, profiles: loaded)
}

/// The inventory and the profiles it names, or a validation error saying which file is wrong.
func loadInventory(inventory: String, profiles: String) throws -> (Inventory, [String: DeviceProfile]) {
    do {
        let loaded = try ProfileLoader.load(paths: [profiles])
        return (try Inventory.load(file: inventory, profiles: loaded), loaded)
    } catch {
        throw ValidationError("cannot read the inventory (--inventory, --profiles):\n\(error)")
    }
}

/// `--at`: an RFC 3339 time that has already happened (a minute of clock skew allowed), or now.
func pastTime(_ text: String?) throws -> Timestamp {
    guard let text else { return Timestamp.now() }
    guard let t = Timestamp(rfc3339: text) else { throw ValidationError("--at \(text): expected an RFC 3339 time such as 2026-11-24T09:40:00+08:00") }
    guard t <= Timestamp.now() + .seconds(60) else { throw ValidationError("--at \(text) is in the future; record steps when they have happened") }
    return t
}

/// A desk error as the command's failure: "fieldwatch: <message>" on stderr, exit status 1.
func deskFailure(_ error: ServiceDeskError) -> ExitCode {
    FileHandle.standardError.write(Data("fieldwatch: \(error.message)\n".utf8))
    return ExitCode(1)
}

extension TicketAction {
    var pastTense: String {
        switch self {
        case .acknowledge: "acknowledged"
        case .contact: "contact recorded"
        case .dispatch: "dispatched"
        case .arrive: "arrival recorded"
        case .resolve: "resolved"
        case .confirm: "confirmed and closed"
        case .reopen: "reopened"
        case .cancel: "cancelled"
        case .pause: "paused"
        case .resume: "resumed"
        }
    }
}

/// Prints a ticket after a step: its clocks with the deadline in the site's time zone.
func report(_ ticket: Ticket, store: TicketStore, json: Bool, headline: String) throws {
    let clocks = try store.clocks(ticketID: ticket.id)
    if json {
        struct Out: Encodable {
            var ticket: TicketView
            var clocks: [ClockView]
        }
        print(try encodeJSON(Out(ticket: TicketView(ticket), clocks: clocks.map { ClockView($0, now: .now()) })))
        return
    }
    print(headline)
    for line in describeClocks(clocks, timeZone: ticket.timeZone, now: .now()) { print("  " + line) }
}

/// "2d 4h", "13h 52m", "45m": a span people read at a glance.
func formatSpan(_ ms: Int64) -> String {
    let minutes = ms / 60_000
    let (d, h, m) = (minutes / 1440, minutes / 60 % 24, minutes % 60)
    if d > 0 { return "\(d)d \(h)h" }
    if h > 0 { return "\(h)h \(m)m" }
    return "\(m)m"
}

func localTime(_ t: Timestamp, _ zone: String?) -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = zone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
    f.dateFormat = "EEE yyyy-MM-dd HH:mm"
    return "\(f.string(from: t.date)) \(zone ?? "UTC")"
}

func describeClocks(_ clocks: [ClockRecord], timeZone: String?, now: Timestamp) -> [String] {
    let order = ClockKind.allCases.map(\.rawValue)
    return clocks.sorted { order.firstIndex(of: $0.kind)! < order.firstIndex(of: $1.kind)! }.map { c in
        let name = c.kind.replacingOccurrences(of: "_", with: " ")
        let target = "\(formatDuration(.milliseconds(c.targetMilliseconds))) on \(c.calendar)"
        switch c.state {
        case .met:
            let verdict = c.isBreached(at: now) ? "LATE" : "in time"
            return "\(name): met \(localTime(c.metAt!, timeZone)), \(verdict) (target \(target))"
        case .paused: return "\(name): paused (target \(target))"
        case .notNeeded: return "\(name): not needed"
        case .stopped: return "\(name): stopped (cancelled)"
        case .running:
            guard let d = c.deadline else { return "\(name): running" }
            let left = d.milliseconds - now.milliseconds
            let status = left >= 0 ? "\(formatSpan(left)) left" : "BREACHED \(formatSpan(-left)) ago"
            return "\(name): due \(localTime(d, timeZone)), \(status) (target \(target))"
        }
    }
}

extension Tickets {
    struct Ack: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ack", abstract: "Acknowledge a new ticket; whoever acknowledges owns it.")
        @OptionGroup var step: StepOptions
        func run() throws { try step.perform(.acknowledge) }
    }
    struct Contact: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record the first human contact with the customer (stops the first-contact clock).")
        @OptionGroup var step: StepOptions
        func run() throws { try step.perform(.contact) }
    }
    struct Dispatch: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record that an engineer was sent to the site.")
        @OptionGroup var step: StepOptions
        func run() throws { try step.perform(.dispatch) }
    }
    struct Arrive: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record the engineer's arrival on site (stops the on-site clock).")
        @OptionGroup var step: StepOptions
        func run() throws { try step.perform(.arrive) }
    }
    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record the fix (stops the resolution clock); the customer confirms it next.")
        @OptionGroup var step: StepOptions
        func run() throws { try step.perform(.resolve) }
    }
    struct Confirm: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record the customer's confirmation of the fix; the ticket closes.")
        @OptionGroup var step: StepOptions
        func run() throws { try step.perform(.confirm) }
    }
    struct Reopen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reopen a resolved or closed ticket (--reason required); the resolution clock runs again.")
        @OptionGroup var step: StepOptions
        func run() throws { try step.perform(.reopen) }
    }
    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a ticket as a false alarm or duplicate (--reason required).")
        @OptionGroup var step: StepOptions
        func run() throws { try step.perform(.cancel) }
    }
    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop the on-site and resolution clocks for a listed reason, with evidence.",
            discussion: """
                Reasons: waiting_for_customer, site_access_refused, customer_owned_part. The first-contact \
                clock never pauses. Paused time is excluded from the deadlines; the pause, its reason and \
                its evidence go into the audit trail.
                """)
        @OptionGroup var step: StepOptions
        @Option(help: "waiting_for_customer, site_access_refused or customer_owned_part.") var pauseReason: String
        @Option(help: "What shows it: the unanswered call's time and number, the gate log, the customer's message.") var evidence: String
        func run() throws {
            guard let reason = PauseReason(rawValue: pauseReason) else {
                throw ValidationError("--pause-reason \(pauseReason): use \(PauseReason.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try step.perform(.pause, pause: (reason, evidence))
        }
    }
    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restart the clocks after a pause.")
        @OptionGroup var step: StepOptions
        func run() throws { try step.perform(.resume) }
    }

    struct Propose: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Propose the repair: diagnosis, planned work, parts, estimated cost.",
            discussion: "The service policy decides whether a supervisor must approve it before `resolve` (by grade or cost).")
        @OptionGroup var step: StepOptions
        @Option(help: "What is wrong.") var diagnosis: String
        @Option(help: "What will be done.") var work: String
        @Option(help: "Parts, e.g. \"SKF 6308 x1, seal kit x1\".") var parts = ""
        @Option(help: "Estimated cost in the contract's currency.") var cost: Double

        func run() throws {
            let workflow = try step.desk.open()
            let (id, at) = (try step.ticketID(), try step.time())
            let solution: SolutionRecord
            do {
                solution = try workflow.propose(ticketID: id, actor: step.actor, diagnosis: diagnosis, plannedWork: work, parts: parts,
                                                estimatedCost: cost, at: at)
            } catch {
                throw deskFailure(error)
            }
            if step.json { print(try encodeJSON(SolutionView(solution))); return }
            print(solution.status == .proposed
                  ? "solution #\(solution.id) for ticket #\(id) waits for a supervisor: `fieldwatch tickets approve \(id) --by NAME` or `reject … --reason`"
                  : "solution #\(solution.id) for ticket #\(id) recorded; the policy needs no approval for it")
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve the pending solution (not your own).")
        @OptionGroup var step: StepOptions
        func run() throws { try decide(step, approve: true) }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject the pending solution, saying why (--reason).")
        @OptionGroup var step: StepOptions
        func run() throws { try decide(step, approve: false) }
    }

    static func decide(_ step: StepOptions, approve: Bool) throws {
        let workflow = try step.desk.open()
        let (id, at) = (try step.ticketID(), try step.time())
        let solution: SolutionRecord
        do {
            solution = try workflow.decide(ticketID: id, approve: approve, actor: step.actor, note: step.reason, at: at)
        } catch {
            throw deskFailure(error)
        }
        if step.json { print(try encodeJSON(SolutionView(solution))); return }
        print("solution #\(solution.id) for ticket #\(id) \(solution.status.rawValue) by \(step.actor)")
    }

    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a ticket by hand (source: manual), e.g. a fault an engineer found on a round.",
            discussion: "If the device already has an open ticket for the fault, the finding is recorded on it instead.")
        @OptionGroup var desk: DeskOptions
        @Option(help: "Device id as in the inventory.") var device: String
        @Option(help: "Fault code, from the device's fault catalogue where possible.") var fault: String
        @Option(help: "What was found.") var description: String
        @Option(name: .customLong("by"), help: "Who found it.") var actor: String
        @Flag(help: "The equipment is down or unsafe (graded as a critical fault).") var critical = false
        @Option(help: "Inventory of sites and devices (default ./inventory.yaml).") var inventory = "./inventory.yaml"
        @Option(help: "Directory of device profiles (default ./DeviceProfiles).") var profiles = "./DeviceProfiles"
        @Option(help: "When it was found, RFC 3339 (default now).") var at: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let when = try pastTime(at)
            let workflow = try desk.open(directory: try loadDirectory(inventory: inventory, profiles: profiles), create: true)
            let outcome: (ticket: Ticket, existing: Bool)
            do {
                outcome = try workflow.openManual(device: DeviceID(device), faultCode: FaultCode(fault), severity: critical ? .critical : .warning,
                                                  title: description, actor: actor, at: when)
            } catch {
                throw deskFailure(error)
            }
            let t = outcome.ticket
            try report(t, store: workflow.store, json: json,
                       headline: outcome.existing ? "recorded on open ticket #\(t.id) (\(t.faultCode)): no duplicate opened"
                           : "ticket #\(t.id) opened: \(t.grade.rawValue) \(t.faultCode) on \(t.device)")
        }
    }

    struct Escalate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one escalation scan now and list what fired.",
            discussion: """
                The gateway runs this scan every escalation_interval; run it by hand to check a \
                database without a gateway. Each step fires once per ticket, clock and deadline, \
                whoever runs the scan.
                """)
        @OptionGroup var desk: DeskOptions
        @Option(help: "Scan as of this time, RFC 3339 (default now; not in the future); for replaying a backlog of logged steps.") var at: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let now = try pastTime(at)
            let workflow = try desk.open()
            let events: [EscalationEvent]
            do { events = try workflow.escalate(now: now) } catch { throw deskFailure(error) }
            if json {
                struct Out: Encodable { var ticket_id: Int64; var clock: String; var level: String; var deadline: String; var due_at: String }
                print(try encodeJSON(events.map { Out(ticket_id: $0.ticketID, clock: $0.clock, level: $0.level.rawValue, deadline: $0.deadline.rfc3339, due_at: $0.dueAt.rfc3339) }))
                return
            }
            if events.isEmpty { print("nothing due") }
            for e in events { print("ticket #\(e.ticketID): \(e.clock) \(e.level.rawValue) (deadline \(e.deadline.rfc3339), due \(e.dueAt.rfc3339))") }
        }
    }

    struct Rate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the customer's rating of a fixed fault (1 poor … 5 excellent); 2 or less opens a complaint ticket.")
        @OptionGroup var step: StepOptions
        @Option(help: "1 (poor) to 5 (excellent).") var score: Int
        @Option(help: "The customer's words.") var comment = ""

        func run() throws {
            let workflow = try step.desk.open()
            let (id, at) = (try step.ticketID(), try step.time())
            let outcome: (ticket: Ticket, complaint: Ticket?)
            do {
                outcome = try workflow.rate(ticketID: id, score: score, comment: comment, actor: step.actor, at: at)
            } catch {
                throw deskFailure(error)
            }
            print("ticket #\(id) rated \(score)/5" + (outcome.complaint.map { "; complaint ticket #\($0.id) is open for it" } ?? ""))
        }
    }

    struct Regrade: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a ticket's grade; lowering it needs --reason. The clocks follow the new grade.")
        @OptionGroup var step: StepOptions
        @Option(help: "urgent, general or minor.") var grade: String

        func run() throws {
            guard let g = Grade(rawValue: grade) else { throw ValidationError("--grade \(grade): use urgent, general or minor") }
            let workflow = try step.desk.open()
            let (id, at) = (try step.ticketID(), try step.time())
            let ticket: Ticket
            do {
                ticket = try workflow.regrade(ticketID: id, to: g, actor: step.actor, reason: step.reason, at: at)
            } catch {
                throw deskFailure(error)
            }
            try report(ticket, store: workflow.store, json: step.json, headline: "ticket #\(ticket.id) is now \(ticket.grade.rawValue)")
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a fault a customer reported by phone, online or e-mail.",
            discussion: """
                When the device already has an open ticket (a predictive one first), the report is linked \
                to it instead of opening a duplicate, and may raise its grade. Otherwise a customer-report \
                ticket opens, graded by the service policy and timed from now.
                """)
        @OptionGroup var desk: DeskOptions
        @Option(help: "Device id as in the inventory.") var device: String
        @Option(help: "phone, online or email.") var channel: String
        @Option(help: "Who reported it.") var reporter: String
        @Option(help: "The fault in the customer's words.") var description: String
        @Option(help: "Fault code from the device's fault catalogue, when known.") var fault: String?
        @Flag(help: "The equipment is down (graded as a critical fault); otherwise it still runs.") var stopped = false
        @Option(help: "Inventory of sites and devices (default ./inventory.yaml).") var inventory = "./inventory.yaml"
        @Option(help: "Directory of device profiles (default ./DeviceProfiles).") var profiles = "./DeviceProfiles"
        @Option(help: "When the customer reported it, RFC 3339 (default now); the clocks start then.") var at: String?
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let reportedAt = try pastTime(at)
            guard let channel = CustomerReport.Channel(rawValue: channel) else { throw ValidationError("--channel \(channel): use phone, online or email") }
            let workflow = try desk.open(directory: try loadDirectory(inventory: inventory, profiles: profiles), create: true)
            let outcome: (ticket: Ticket, linked: Bool)
            do {
                outcome = try workflow.report(CustomerReport(device: DeviceID(device), faultCode: fault.map { FaultCode($0) }, channel: channel,
                                                             reporter: reporter, description: description, severity: stopped ? .critical : .warning),
                                              at: reportedAt)
            } catch {
                throw deskFailure(error)
            }
            let t = outcome.ticket
            try report(t, store: workflow.store, json: json,
                                         headline: outcome.linked ? "linked to open ticket #\(t.id) (\(t.grade.rawValue), \(t.faultCode)): no duplicate opened"
                                             : "ticket #\(t.id) opened: \(t.grade.rawValue) \(t.faultCode) on \(t.device)")
        }
    }
}

// MARK: - policy

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check a service policy file and show the policy in force.",
        subcommands: [Validate.self, Show.self])

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a service policy YAML; every error as file:line:column: field: problem; fix.")
        @Argument(help: "Policy file (format: ServicePolicy/README.md).") var file: String

        func run() throws {
            do {
                let p = try ServicePolicy.load(file: file)
                print("ok: \(file): \(p.grading.count) grading rule(s), \(p.calendars.count) calendar(s), targets for \(p.targets.count) grade(s)")
            } catch {
                for issue in error.issues { print(issue) }
                print("\(error.issues.count) error(s)")
                throw ExitCode(1)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the policy text the gateway stored in the database (or the built-in default).")
        @OptionGroup var location: Tickets.Location

        func run() throws {
            if let stored = try location.open().policyInForce() {
                print("# in force: \(stored.source), sha256 \(stored.sha256)")
                print(stored.text, terminator: stored.text.hasSuffix("\n") ? "" : "\n")
            } else {
                print("# no policy stored yet; the built-in default applies")
                print(ServicePolicy.defaultYAML, terminator: "")
            }
        }
    }
}
