import ArgumentParser
import FieldwatchCore
import Foundation
import Gateway
import Logging
import Profiles
import ServiceDesk
import Storage

@main
struct Fieldwatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldwatch",
        abstract: "IoT predictive-maintenance gateway with a built-in service desk.",
        discussion: """
            Fieldwatch listens to equipment telemetry on MQTT, keeps recent samples in fixed-size \
            ring buffers, runs the detectors declared in device profiles, and turns what they find \
            into predictive fault tickets stored in SQLite.

            Start here:
              fieldwatch profiles validate DeviceProfiles   check your profiles
              fieldwatch serve --inventory site.yaml        run the gateway
              fieldwatch tokens create --name me --role admin --subject me
              open http://127.0.0.1:8080 and sign in        the dashboard
              fieldwatch tickets list                       the tickets it opened
              fieldwatch tickets ack 1 --by me              take one: you own it
            """,
        subcommands: [Serve.self, Tickets.self, EngineersCommand.self, DispatchCommand.self, VisitsCommand.self, PartsCommand.self, CasesCommand.self, KPIsCommand.self, Audit.self, OutboxCommand.self, Report.self, AssistantCommand.self, PolicyCommand.self, Tokens.self, ProfilesCommand.self, IngestCommand.self, Replay.self, Backtest.self, Eval.self]
    )
}

// MARK: - serve

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway: ingest telemetry, detect faults, open tickets.",
        discussion: """
            Settings come from the defaults, then the --config file, then FIELDWATCH_* environment \
            variables, then the flags below; everything is validated before the gateway starts. \
            Stops cleanly on Ctrl-C (SIGINT) or SIGTERM, committing every ticket already detected.

            Configuration keys (YAML file / environment variable):
            \(GatewayConfiguration.keys.map { "  \($0.key) / \($0.env)\n      \($0.help)" }.joined(separator: "\n"))
            """
    )

    @Option(help: "YAML configuration file.") var config: String?
    @Option(help: "MQTT broker, mqtt://HOST:PORT (default mqtt://127.0.0.1:1883).") var broker: String?
    @Option(help: "SQLite database file (default ./fieldwatch.db).") var db: String?
    @Option(help: "Directory of device profiles (default ./DeviceProfiles).") var profiles: String?
    @Option(help: "Inventory of sites and devices (default ./inventory.yaml).") var inventory: String?
    @Option(help: "MQTT client id; keep it stable across restarts (default fieldwatch-gateway).") var clientID: String?
    @Option(help: "Service policy YAML: grading, SLA targets, calendars, escalation (default: built in).") var policy: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String?

    func run() async throws {
        var c = GatewayConfiguration()
        do {
            if let config { c = try GatewayConfiguration.load(file: config) }
            try c.applyEnvironment(ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError("configuration is not valid:\n\(error)")
        }
        if let broker { c.broker = broker }
        if let db { c.database = db }
        if let profiles { c.profiles = profiles }
        if let inventory { c.inventory = inventory }
        if let clientID { c.clientID = clientID }
        if let policy { c.policy = policy }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw ValidationError("--log-level \(logLevel): use trace, debug, info, notice, warning, error or critical")
            }
            c.logLevel = level
        }
        let level = c.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let gateway: Gateway
        do {
            gateway = try Gateway(configuration: c, logger: Logger(label: "fieldwatch"))
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("fieldwatch: cannot start:\n\(error)\n".utf8))
            throw ExitCode(2)
        }
        try await gateway.run()
    }
}

// MARK: - tickets

struct Tickets: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read and work the tickets in a Fieldwatch database.",
        discussion: """
            Lifecycle: new → ack → contact → dispatch → arrive → resolve → confirm (closed); reopen;             cancel; pause/resume. A step that is not possible says which are. Every step records who             (--by), when (--at, default now) and why (--reason) in the audit trail, and recomputes the             ticket's SLA clocks with the policy in force.
            """,
        subcommands: [List.self, Show.self, Report.self, Open.self, Ack.self, Contact.self, Dispatch.self, Arrive.self, Resolve.self, Confirm.self,
                      Reopen.self, Cancel.self, Pause.self, Resume.self, Propose.self, Approve.self, Reject.self, Rate.self, Regrade.self, Escalate.self,
                      Remote.self]
    )

    struct Location: ParsableArguments {
        @Option(help: "SQLite database file (default ./fieldwatch.db).") var db = "./fieldwatch.db"

        func open(create: Bool = false) throws -> TicketStore {
            guard create || FileManager.default.fileExists(atPath: db) else {
                throw ValidationError("no database at \(db); run `fieldwatch serve` first or pass --db FILE")
            }
            return try TicketStore(path: db)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tickets, newest first.")
        @OptionGroup var location: Location
        @Flag(help: "Print JSON (an array of tickets) instead of a table.") var json = false
        @Flag(help: "Only tickets that are not closed or cancelled.") var open = false

        func run() throws {
            let tickets = try location.open().tickets(openOnly: open)
            if json {
                print(try encodeJSON(tickets.map(TicketView.init)))
                return
            }
            if tickets.isEmpty {
                print("no tickets in \(location.db)")
                return
            }
            let rows = tickets.map { t in
                ["#\(t.id)\(t.drill ? " DRILL" : "")", t.grade.rawValue, t.status.rawValue + (t.paused ? "*" : ""), t.owner ?? "-", t.openedAt.rfc3339,
                 "\(t.site)/\(t.device)", t.faultCode.rawValue, "\(t.occurrences)", t.title]
            }
            printTable(header: ["ID", "GRADE", "STATUS", "OWNER", "OPENED (UTC)", "SITE/DEVICE", "FAULT", "OCC", "TITLE"], rows: rows)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one ticket with its detections, evidence and audit trail.")
        @OptionGroup var location: Location
        @Argument(help: "Ticket id (as listed, with or without #).") var id: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let ticketID = try parseTicketID(id)
            let store = try location.open()
            guard let ticket = try store.ticket(id: ticketID) else {
                throw ValidationError("no ticket #\(ticketID) in \(location.db); `fieldwatch tickets list` shows the ids")
            }
            let now = Timestamp.now()
            // The same read model as GET /api/v1/tickets/{id}: one shape, RFC 3339 times.
            let detail = try TicketDetail.load(ticket, from: store, now: now)
            if json {
                print(try encodeJSON(detail))
                return
            }
            print("ticket #\(ticket.id)  \(ticket.grade.rawValue)  \(ticket.status.rawValue)\(ticket.paused ? " (paused)" : "")  \(ticket.faultCode)  \(ticket.source.rawValue)")
            print("  \(ticket.title)")
            print("  device \(ticket.device) at site \(ticket.site); opened \(detail.ticket.opened_at); \(ticket.occurrences) occurrence(s)")
            print("  customer \(ticket.customer ?? "?") (\(ticket.tier.rawValue)); owner \(ticket.owner ?? "none yet: `fieldwatch tickets ack \(ticket.id) --by NAME`")")
            if let reason = ticket.cancelReason { print("  cancelled: \(reason)") }
            if let f = detail.ticket.forecast {
                print("  forecast: reaches \(f.limit) \(ticket.unit ?? "") \(f.lead), at \(f.crossing_at) (earliest \(f.earliest), "
                      + "latest \(f.latest ?? "never")); trend \(String(format: "%.3g", f.slope_per_hour)) \(ticket.unit ?? "")/h "
                      + "fitted on \(f.points) points since \(f.window_start)")
            }
            print("clocks:")
            for line in describeClocks(try store.clocks(ticketID: ticketID), timeZone: ticket.timeZone, now: now) { print("  " + line) }
            if !detail.pauses.isEmpty {
                print("pauses:")
                for p in detail.pauses { print("  \(p.started_at) – \(p.ended_at ?? "now") \(p.reason) by \(p.actor): \(p.evidence)") }
            }
            if !detail.solutions.isEmpty {
                print("solutions:")
                for s in detail.solutions {
                    let decision = s.decided_by.map { " by \($0)\(s.decision_note.map { ": \($0)" } ?? "")" } ?? ""
                    print("  #\(s.id) \(s.status)\(decision); \(s.proposed_by): \(s.diagnosis) → \(s.planned_work)"
                          + "\(s.parts.isEmpty ? "" : "; parts \(s.parts)"); est. \(String(format: "%.2f", s.estimated_cost ?? 0))")
                }
            }
            if !detail.ratings.isEmpty {
                print("ratings:")
                for r in detail.ratings { print("  \(r.at) \(r.score)/5 by \(r.actor)\(r.comment.isEmpty ? "" : ": \(r.comment)")") }
            }
            if !detail.escalations.isEmpty {
                print("escalations:")
                for e in detail.escalations { print("  \(e.fired_at) \(e.clock) \(e.level) (deadline \(e.deadline))") }
            }
            if let assignee = ticket.assignee { print("engineer sent: \(assignee)") }
            if !detail.visits.isEmpty {
                print("visits:")
                for v in detail.visits {
                    let place = v.distance_m.map { "\(Int($0)) m from the site" } ?? "no position"
                    print("  #\(v.id) \(v.engineer) checked in \(v.started_at) (\(v.check_in.replacingOccurrences(of: "_", with: " ")), \(place))"
                          + (v.outcome.map { "; \($0)\(v.reason.map { " (\($0))" } ?? ""): \(v.work ?? ""), \(v.labour_hours ?? 0) h\(v.parts.map { ", parts \($0)" } ?? "")" } ?? "; in progress"))
                }
            }
            for r in detail.remote_assists { print("remote assistance \(r.at) by \(r.actor): checked \(r.checked); told \(r.instructions); \(r.outcome)") }
            if let p = ticket.profileID { print("  profile \(p)@\(ticket.profileVersion ?? 0), detector \(ticket.detector ?? "?")@\(ticket.detectorVersion ?? 0)") }
            print("detections:")
            for d in detail.detections {
                let values = d.evidence.map(\.value)
                let range = values.isEmpty ? "" : String(format: ", evidence %d samples %.2f…%.2f %@", values.count, values.min()!, values.max()!, d.unit)
                print("  \(d.detected_at) \(d.transition) \(d.severity) on \(d.sensor): \(d.summary)\(range)")
            }
            print("timeline:")
            for a in detail.timeline {
                let facts = a.detail.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                print("  \(a.at) \(a.actor) \(a.action) \(facts)")
            }
        }
    }
}

func encodeJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // The same time format as the HTTP API: RFC 3339 everywhere, nested records included.
    encoder.userInfo[.timestampsAsRFC3339] = true
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

func printTable(header: [String], rows: [[String]]) {
    for line in table([header] + rows) { print(line) }
}

// MARK: - profiles

struct ProfilesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiles",
        abstract: "Check device profiles and show what they declare.",
        subcommands: [Validate.self, Show.self]
    )

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate device profiles; lists every error as file:line:column: field: problem; fix.",
            discussion: "Exit status 0 when every profile is valid, 1 otherwise."
        )
        @Argument(help: "Profile directories or files (default ./DeviceProfiles).") var paths: [String] = []
        @Option(help: "Also validate this inventory file against the profiles.") var inventory: String?

        func run() throws {
            let targets = paths.isEmpty ? ["./DeviceProfiles"] : paths
            do {
                let profiles = try ProfileLoader.load(paths: targets)
                print("ok: \(profiles.count) profile(s): \(profiles.keys.sorted().joined(separator: ", "))")
                if let inventory {
                    let inv = try Inventory.load(file: inventory, profiles: profiles)
                    print("ok: \(inventory): \(inv.sites.count) site(s), \(inv.devices.count) device(s)")
                }
            } catch {
                for issue in error.issues { print(issue) }
                print("\(error.issues.count) error(s)")
                throw ExitCode(1)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one profile: sensors, limits, detectors and fault catalogue."
        )
        @Argument(help: "Profile id (as in the inventory's `profile:`).") var id: String
        @Option(help: "Directory of device profiles (default ./DeviceProfiles).") var profiles = "./DeviceProfiles"

        func run() throws {
            let loaded: [String: DeviceProfile]
            do {
                loaded = try ProfileLoader.load(paths: [profiles])
            } catch {
                for issue in error.issues { print(issue) }
                throw ExitCode(1)
            }
            guard let p = loaded[id] else {
                throw ValidationError("no profile \"\(id)\" in \(profiles); known: \(loaded.keys.sorted().joined(separator: ", "))")
            }
            print(describe(p))
        }
    }
}

/// A readable summary of a profile (used by `fieldwatch profiles show`).
func describe(_ p: DeviceProfile) -> String {
    func num(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e12 ? String(Int64(x)) : String(x) }
    var out: [String] = []
    out.append("\(p.id) v\(p.version): \(p.name) (\(p.category), criticality \(p.criticality)/5)")
    let origin = [p.manufacturer, p.model].compactMap { $0 }.joined(separator: ", ")
    out.append("  \(origin.isEmpty ? "" : origin + "; ")from \(p.sourceFile)")
    out.append("")
    out.append("sensors:")
    var rows = [["KEY", "UNIT", "KIND", "RANGE", "NOMINAL", "PERIOD", "STALE", "LIMITS"]]
    for s in p.sensors {
        var limits = "-"
        if let l = s.limits {
            let levels = [l.warning.map { "warning \(num($0))" }, l.critical.map { "critical \(num($0))" }].compactMap { $0 }
            limits = "\(l.direction.rawValue): \(levels.joined(separator: ", ")), clear \(num(l.clear)), hold \(formatDuration(l.minDuration)) -> \(l.faultCode)"
        }
        rows.append([s.key.rawValue, s.unit, s.kind.rawValue, "\(num(s.validRange.lowerBound))..\(num(s.validRange.upperBound))",
                     s.nominal.map(num) ?? "-", s.period.map(formatDuration) ?? "-", s.staleAfter.map(formatDuration) ?? "-", limits])
    }
    out += table(rows).map { "  " + $0 }
    out.append("")
    out.append("detectors:")
    let declared = Set(p.detectors.map(\.sensor))
    for d in p.effectiveDetectors {
        let parameters = d.parameters.sorted { $0.key < $1.key }.map { "\($0.key) \(num($0.value))" }.joined(separator: ", ")
        out.append("  \(d.sensor): \(d.type.rawValue)\(parameters.isEmpty ? "" : " (\(parameters))")"
                   + (declared.contains(d.sensor) ? "" : " (default for a \(p.sensor(d.sensor)?.kind.rawValue ?? "gauge") with limits)"))
    }
    if p.effectiveDetectors.isEmpty { out.append("  none") }
    out.append("")
    out.append("faults:")
    for f in p.faults {
        out.append("  \(f.code)  \(f.grade.rawValue)  \(f.name) (\(f.component))")
        if !f.symptoms.isEmpty { out.append("      symptoms: \(f.symptoms.joined(separator: "; "))") }
        if !f.actions.isEmpty { out.append("      actions:  \(f.actions.joined(separator: "; "))") }
        var needs: [String] = []
        if !f.skills.isEmpty { needs.append("skills \(f.skills.joined(separator: ", "))") }
        if !f.parts.isEmpty { needs.append("parts " + f.parts.map { "\($0.part) x\($0.quantity)" }.joined(separator: ", ")) }
        if let t = f.repairTime { needs.append("repair ~\(formatDuration(t))") }
        if !needs.isEmpty { out.append("      needs:    \(needs.joined(separator: "; "))") }
    }
    if p.faults.isEmpty { out.append("  none declared") }
    return out.joined(separator: "\n")
}

func table(_ rows: [[String]]) -> [String] {
    guard let header = rows.first else { return [] }
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
    return rows.map { row in
        row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
}
