import ArgumentParser
import FieldwatchCore
import Foundation
import Profiles
import ServiceDesk
import Storage

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Service reports.",
        subcommands: [Monthly.self, Costs.self])

    struct Monthly: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the monthly service report: one self-contained HTML file (and optionally CSV).",
            discussion: """
                KPIs of the tickets opened in the month, against the brief's targets (first contact ≤ 2 h, \
                first-time fix ≥ 85 %, CSAT ≥ 4.5, complaint closure 100 %), with charts of grades, faults \
                per equipment model and sites, false alarms per detector and profile, and the staff top 3. \
                KPIs whose data is not recorded yet say so instead of showing zero.
                """)
        @OptionGroup var location: Tickets.Location
        @Option(help: "The month, YYYY-MM.") var month: String
        @Option(help: "HTML file to write.") var out: String
        @Option(help: "Also write the KPI table as CSV here.") var csv: String?
        @Option(help: "Time zone whose calendar month is reported (default UTC).") var timezone = "UTC"
        @Option(help: "Directory of device profiles, for the failing components (default ./DeviceProfiles).") var profiles = "./DeviceProfiles"
        @Option(help: "Inventory (warranties, contracts) for the costs section (default ./inventory.yaml when it exists).") var inventory: String?

        func run() throws {
            let period = try monthPeriod(month, timezone: timezone)
            let store = try location.open()
            let catalogue = (try? ProfileLoader.load(paths: [profiles])) ?? [:]
            let kpis = ServiceKPIs.compute(try store.kpiRecords(from: period.from, to: period.to), from: period.from, to: period.to, now: .now(),
                                           component: { catalogue[$0]?.fault($1)?.component },
                                           operatingHours: try SQLiteOperatingHoursStore(store).operatingHours(from: period.from, to: period.to))
            var costs: CostReport?
            if let file = inventory ?? (FileManager.default.fileExists(atPath: "./inventory.yaml") ? "./inventory.yaml" : nil) {
                let (inv, _) = try loadInventory(inventory: file, profiles: profiles)
                costs = try CostReport.load(month: month, from: period.from, to: period.to, store: store, inventory: inv)
            }
            do {
                try MonthlyReport.html(kpis, month: month, timeZone: timezone, generatedAt: .now(), costs: costs).write(toFile: out, atomically: true, encoding: .utf8)
                if let csv { try MonthlyReport.csv(kpis).write(toFile: csv, atomically: true, encoding: .utf8) }
            } catch {
                throw ValidationError("cannot write the report: \(error.localizedDescription); check that the folder exists and is writable")
            }
            let first = kpis.firstContact.map { String(format: "first contact mean %.0f min", $0.mean) } ?? "no first contact recorded"
            print("\(out): \(month), \(kpis.tickets) ticket(s), \(kpis.resolved) resolved, \(first)\(csv.map { "; CSV \($0)" } ?? "")")
        }
    }
}

extension Report {
    struct Costs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What the month's repairs cost and who pays: labour and parts per visit, decided warranty, contract or billable.",
            discussion: """
                Labour: each finished visit's hours × the engineer's hourly rate (the team file). Parts: \
                what the visit used, at the parts catalogue's unit cost (`fieldwatch parts import`); a part \
                it does not list stays unpriced, counted, never zero. Warranty: the device's `warranty_until` \
                (inventory) covered the day the ticket opened; contract: the device's `contract: {id, covers: \
                labour | parts | both}`; otherwise billable. Totals per ticket, equipment model, model · fault \
                and customer. Tickets opened in the month.
                """)
        @OptionGroup var location: Tickets.Location
        @Option(help: "The month, YYYY-MM (default this month).") var month: String?
        @Option(help: "Time zone whose calendar month is reported (default UTC).") var timezone = "UTC"
        @Option(help: "Inventory of sites and devices: warranties and contracts (default ./inventory.yaml).") var inventory = "./inventory.yaml"
        @Option(help: "Directory of device profiles (default ./DeviceProfiles).") var profiles = "./DeviceProfiles"
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let month = month ?? String(Timestamp.now().rfc3339.prefix(7))
            let period = try monthPeriod(month, timezone: timezone)
            let (inv, _) = try loadInventory(inventory: inventory, profiles: profiles)
            let report = try CostReport.load(month: month, from: period.from, to: period.to, store: try location.open(), inventory: inv)
            if json {
                print(try encodeJSON(report))
                return
            }
            func money(_ x: Double) -> String { String(format: "%.2f", x) }
            let t = report.totals
            print("\(month) (\(timezone)): \(report.lines.count) cost line(s), \(String(format: "%g", t.labour_hours)) labour hour(s); "
                  + "warranty \(money(t.warranty)), contract \(money(t.contract)), billable \(money(t.billable))"
                  + (t.unpriced_lines > 0 ? "; \(t.unpriced_lines) line(s) not priced (parts: no catalogue yet)" : ""))
            for (title, groups) in [("per equipment model", report.by_model), ("per model · fault", report.by_fault), ("per customer", report.by_customer),
                                    ("per ticket", report.by_ticket)] where !groups.isEmpty {
                print("\n\(title):")
                printTable(header: ["", "WARRANTY", "CONTRACT", "BILLABLE", "HOURS", "UNPRICED"], rows: groups.map {
                    [$0.key, money($0.warranty), money($0.contract), money($0.billable), String(format: "%g", $0.labour_hours), "\($0.unpriced_lines)"]
                })
            }
        }
    }
}

/// `fieldwatch kpis`: the month's KPI table, the same numbers as `GET /api/v1/kpis` and the
/// monthly report.
struct KPIsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kpis",
        abstract: "Print a month's service KPIs against the brief's targets (first contact, on site, first-time fix, CSAT, complaints).",
        discussion: """
            First-time fix: tickets resolved after exactly one on-site visit, fixed, with no new ticket for \
            the same device and fault within 30 days, over the tickets resolved with an on-site visit; \
            the visits that did not fix are broken down by reason. Remote resolution: tickets fixed by \
            remote assistance without a visit, over resolved tickets. Drills are left out.
            """)
    @OptionGroup var location: Tickets.Location
    @Option(help: "The month, YYYY-MM (default this month).") var month: String?
    @Option(help: "Time zone whose calendar month is reported (default UTC).") var timezone = "UTC"
    @Option(help: "Directory of device profiles, for the failing components (default ./DeviceProfiles).") var profiles = "./DeviceProfiles"
    @Flag(help: "Print JSON: {month, timezone, kpis, table}, as the API.") var json = false

    func run() throws {
        let month = month ?? String(Timestamp.now().rfc3339.prefix(7))
        let period = try monthPeriod(month, timezone: timezone)
        let store = try location.open()
        let catalogue = (try? ProfileLoader.load(paths: [profiles])) ?? [:]
        let kpis = ServiceKPIs.compute(try store.kpiRecords(from: period.from, to: period.to), from: period.from, to: period.to, now: .now(),
                                       component: { catalogue[$0]?.fault($1)?.component },
                                       operatingHours: try SQLiteOperatingHoursStore(store).operatingHours(from: period.from, to: period.to))
        let rows = MonthlyReport.rows(kpis)
        if json {
            struct Row: Encodable { var kpi, value, target, status: String }
            struct Out: Encodable { var month: String; var timezone: String; var kpis: ServiceKPIs; var table: [Row] }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.userInfo[.timestampsAsRFC3339] = true
            let out = Out(month: month, timezone: timezone, kpis: kpis, table: rows.map { Row(kpi: $0.kpi, value: $0.value, target: $0.target, status: $0.status) })
            print(String(decoding: try encoder.encode(out), as: UTF8.self))
            return
        }
        print("\(month) (\(timezone)): \(kpis.tickets) ticket(s), \(kpis.resolved) resolved; definitions \(kpis.definitions)")
        printTable(header: ["KPI", "VALUE", "TARGET", "STATUS"], rows: rows.map { [$0.kpi, $0.value, $0.target, $0.status] })
    }
}

struct VisitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "visits",
        abstract: "Visits to site: check in (the arrival, when at the site), a supervisor's acceptance, finish with the outcome.",
        subcommands: [Start.self, Accept.self, Finish.self])

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check in at a ticket's site. Within --radius metres of the site it is evidence of arrival and stops the on-site clock; away from it, it is flagged for a supervisor.")
        @OptionGroup var field: FieldOptions
        @Argument(help: "Ticket id.") var ticket: String
        @Option(help: "Engineer id.") var engineer: String
        @Option(help: "Latitude of the check-in, decimal degrees.") var lat: Double?
        @Option(help: "Longitude of the check-in, decimal degrees.") var lon: Double?
        @Option(help: "When, RFC 3339 (default now).") var at: String?
        @Option(help: "Check-in radius around the site, metres.") var radius: Double = 300

        func validate() throws {
            if (lat == nil) != (lon == nil) { throw ValidationError("give both --lat and --lon, or neither") }
            guard radius > 0 else { throw ValidationError("--radius \(radius): give metres above 0") }
        }

        func run() throws {
            let ops = try field.open(checkInRadius: radius)
            let (id, time) = (try parseTicketID(ticket), try pastTime(at))
            let visit: VisitRecord
            do {
                visit = try ops.startVisit(ticketID: id, engineer: engineer, position: lat.map { GeoPoint(latitude: $0, longitude: lon!) }, at: time)
            } catch { throw deskFailure(error) }
            let place = visit.distanceMetres.map { String(format: "%.0f m from the site", $0) } ?? "no position"
            print("visit #\(visit.id) on ticket #\(id) by \(engineer): checked in, \(place)"
                  + (visit.withinRadius ? "; arrival recorded" : "; away from the site: a supervisor accepts it with `fieldwatch visits accept \(visit.id) --by NAME`"))
        }
    }

    struct Accept: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Accept a check-in made away from the site as the arrival (a supervisor).")
        @OptionGroup var field: FieldOptions
        @Argument(help: "Visit id.") var visit: Int64
        @Option(name: .customLong("by"), help: "The supervisor.") var actor: String

        func run() throws {
            let ops = try field.open()
            do { _ = try ops.acceptVisit(visit, by: actor, at: .now()) } catch { throw deskFailure(error) }
            print("visit #\(visit) accepted by \(actor); arrival recorded at its check-in")
        }
    }

    struct Finish: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Finish a visit: fixed (the ticket is resolved) or not_fixed with a reason; work done, labour hours, parts used.")
        @OptionGroup var field: FieldOptions
        @Argument(help: "Visit id.") var visit: Int64
        @Option(help: "fixed or not_fixed.") var outcome: String
        @Option(help: "Why not fixed: missing_part, missing_skill, no_access, misdiagnosis, needs_follow_up.") var reason: String?
        @Option(help: "What was done.") var work: String
        @Option(help: "Hours worked on this visit.") var labourHours: Double
        @Option(help: "Parts used, PART:QTY comma-separated (SKF-6309-2Z:1,GREASE-LGHP2-0.4KG:1).") var parts: String?
        @Option(help: "When, RFC 3339 (default now).") var at: String?

        func run() throws {
            guard let o = VisitRecord.Outcome(rawValue: outcome) else { throw ValidationError("--outcome \(outcome): use fixed or not_fixed") }
            let r = try reason.map { text -> VisitRecord.NotFixedReason in
                guard let r = VisitRecord.NotFixedReason(rawValue: text) else {
                    throw ValidationError("--reason \(text): use \(VisitRecord.NotFixedReason.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return r
            }
            let ops = try field.open()
            let time = try pastTime(at)
            let finished: VisitRecord
            do {
                finished = try ops.finishVisit(visit, outcome: o, reason: r, work: work, labourHours: labourHours, parts: parts, at: time)
            } catch { throw deskFailure(error) }
            print("visit #\(visit) finished: \(o.rawValue)\(r.map { " (\($0.rawValue))" } ?? "")"
                  + (o == .fixed ? "; ticket #\(finished.ticketID) resolved" : "; ticket #\(finished.ticketID) stays open for the next visit"))
        }
    }
}

extension Tickets {
    struct Remote: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record remote assistance (video call, live telemetry review); --outcome fixed resolves the ticket without a visit, counted apart.")
        @OptionGroup var field: FieldOptions
        @Argument(help: "Ticket id.") var ticket: String
        @Option(name: .customLong("by"), help: "Who gave the assistance.") var actor: String
        @Option(help: "What was checked.") var checked: String
        @Option(help: "What the customer was told to do.") var instructions: String
        @Option(help: "fixed or not_fixed.") var outcome: String
        @Option(help: "When, RFC 3339 (default now).") var at: String?

        func run() throws {
            guard let o = VisitRecord.Outcome(rawValue: outcome) else { throw ValidationError("--outcome \(outcome): use fixed or not_fixed") }
            let ops = try field.open()
            let (id, time) = (try parseTicketID(ticket), try pastTime(at))
            do {
                _ = try ops.remoteAssist(ticketID: id, by: actor, checked: checked, instructions: instructions, outcome: o, at: time)
            } catch { throw deskFailure(error) }
            print("remote assistance on ticket #\(id) by \(actor): \(o.rawValue)" + (o == .fixed ? "; ticket resolved without a visit" : ""))
        }
    }
}

/// A calendar month in a time zone, from `--month` and `--timezone`.
func monthPeriod(_ month: String, timezone: String) throws -> (from: Timestamp, to: Timestamp) {
    guard let zone = TimeZone(identifier: timezone) else { throw ValidationError("--timezone \(timezone): not an IANA time zone such as Asia/Shanghai") }
    guard let period = MonthlyReport.period(month, timeZone: zone) else { throw ValidationError("--month \(month): expected YYYY-MM, such as 2026-11") }
    return period
}
