import ArgumentParser
import FieldwatchCore
import Foundation
import Profiles
import ServiceDesk
import Storage

/// What the field commands open: the desk, the team's records, the inventory and profiles.
struct FieldOptions: ParsableArguments {
    @OptionGroup var desk: DeskOptions
    @Option(help: "Inventory of sites and devices: the sites' coordinates (default ./inventory.yaml).") var inventory = "./inventory.yaml"
    @Option(help: "Directory of device profiles: the trades each fault needs (default ./DeviceProfiles).") var profiles = "./DeviceProfiles"
    @Option(help: "Average road speed for travel estimates, km/h.") var speed: Double = 40
    @Option(help: "Minutes from arriving at a site to standing at the equipment.") var access: Double = 15

    func validate() throws {
        guard speed > 0, speed.isFinite else { throw ValidationError("--speed \(speed): give km/h above 0") }
        guard access >= 0, access.isFinite else { throw ValidationError("--access \(access): give minutes, 0 or more") }
    }

    func open(checkInRadius: Double = 300) throws -> FieldOperations {
        let (inv, loaded) = try loadInventory(inventory: inventory, profiles: profiles)
        let workflow = try desk.open(directory: SiteDirectory(inventory: inv, profiles: loaded))
        return FieldOperations(workflow: workflow, team: SQLiteFieldTeamStore(workflow.store), inventory: inv, profiles: loaded,
                               settings: DispatchSettings(speedKmh: speed, accessMinutes: access, checkInRadiusMetres: checkInRadius))
    }
}

struct EngineersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engineers",
        abstract: "The field team: import it from a file, list it, record where an engineer is.",
        discussion: """
            The team file (YAML) has top-level `engineers:`, `service_points:` and `partners:`; see \
            ServicePolicy/demo-team.yaml. An engineer: id (their API token's subject), name, role \
            (engineer, dispatcher, supervisor, management), skills each `{skill, certificate_until}`, \
            service_point, home {latitude, longitude}, shift (`always` or the policy's calendar form: \
            hours per day, holidays, timezone), max_jobs, hourly_rate. A service point: id, name, \
            latitude, longitude, radius_km. A partner provider: id, name, skills, response (its \
            committed time to site), service_points.
            """,
        subcommands: [Import.self, List.self, Locate.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the stored team match a file: adds and updates, deactivates whoever is missing (never deletes); all audited.",
            discussion: "Importing the same file again changes nothing. Mistakes are reported as file:line:column with the fix.")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "The team file (YAML).") var file: String
        @Option(name: .customLong("by"), help: "Who imports it; recorded in the audit trail.") var actor = "import"

        func run() throws {
            let team: FieldTeam
            do { team = try FieldTeamFile.load(file: file) } catch {
                throw ValidationError("\(file) is not a valid field-team file:\n\(error)")
            }
            let result = try SQLiteFieldTeamStore(location.open(create: true)).importTeam(team, source: file, actor: actor, at: .now())
            if result.isEmpty {
                print("\(file): no change (\(result.unchanged) record(s) as stored)")
                return
            }
            print("\(file): \(result.added.count) added, \(result.updated.count) updated, \(result.reactivated.count) reactivated, "
                  + "\(result.deactivated.count) deactivated, \(result.unchanged) unchanged")
            for (word, items) in [("added", result.added), ("updated", result.updated), ("reactivated", result.reactivated), ("deactivated", result.deactivated)] {
                for item in items { print("  \(word): \(item)") }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the team: skills and certificates, service point, load, last position.")
        @OptionGroup var location: Tickets.Location
        @Flag(help: "Print JSON.") var json = false
        @Flag(help: "Include deactivated engineers.") var all = false

        func run() throws {
            let store = SQLiteFieldTeamStore(try location.open())
            let engineers = try store.engineers(includeInactive: all)
            let positions = try store.positions()
            let jobs = try store.openJobs()
            if json {
                struct Out: Encodable {
                    var id, name, role: String
                    var active: Bool
                    var skills: [HeldSkill]
                    var service_point: String?
                    var home: GeoPoint
                    var max_jobs: Int
                    var open_jobs: [Int64]
                    var hourly_rate: Double
                    var position: GeoPoint?
                    var position_at: Timestamp?
                }
                print(try encodeJSON(engineers.map {
                    Out(id: $0.id, name: $0.name, role: $0.role.rawValue, active: $0.active, skills: $0.skills, service_point: $0.servicePoint, home: $0.home,
                        max_jobs: $0.maxJobs, open_jobs: (jobs[$0.id] ?? []).map(\.id), hourly_rate: $0.hourlyRate,
                        position: positions[$0.id]?.position, position_at: positions[$0.id]?.at)
                }))
                return
            }
            if engineers.isEmpty {
                print("no engineers in \(location.db); import a team with `fieldwatch engineers import FILE`")
                return
            }
            let today = Timestamp.now()
            printTable(header: ["ID", "NAME", "ROLE", "SKILLS", "POINT", "JOBS", "LAST POSITION"], rows: engineers.map { e in
                let skills = e.skills.map { $0.skill + ($0.isValid(at: today) ? "" : " (expired \($0.certificateUntil!))") }.joined(separator: ", ")
                let position = positions[e.id].map { String(format: "%.4f,%.4f at %@", $0.position.latitude, $0.position.longitude, $0.at.rfc3339) } ?? "home base"
                return [e.id + (e.active ? "" : " (inactive)"), e.name, e.role.rawValue, skills, e.servicePoint ?? "-", "\((jobs[e.id] ?? []).count)/\(e.maxJobs)", position]
            })
        }
    }

    struct Locate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record an engineer's position (dispatch measures travel from the last one).")
        @OptionGroup var field: FieldOptions
        @Argument(help: "Engineer id.") var id: String
        @Option(help: "Latitude, decimal degrees.") var lat: Double
        @Option(help: "Longitude, decimal degrees.") var lon: Double
        @Option(help: "When, RFC 3339 (default now).") var at: String?
        @Option(name: .customLong("by"), help: "Who records it (default the engineer).") var actor: String?

        func run() throws {
            let ops = try field.open()
            let time = try pastTime(at)
            do {
                try ops.locate(engineer: id, at: GeoPoint(latitude: lat, longitude: lon), time: time, actor: actor ?? id)
            } catch { throw deskFailure(error) }
            print("\(id) at \(lat),\(lon)")
        }
    }
}

struct DispatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch",
        abstract: "Who goes: rank the nearest suitable engineers for a ticket, and assign one.",
        discussion: """
            Hard filters: every skill the fault needs (the profile's fault catalogue) with a \
            certificate valid today; on shift before the on-site deadline; fewer open jobs than \
            their maximum. Then: arriving before the deadline, earliest arrival (great-circle \
            distance from the last known position, the current job or home, at --speed, plus \
            --access minutes at the site), lightest workload. When nobody in house can arrive in \
            time, partner providers covering the site are proposed at their committed response.
            """,
        subcommands: [Suggest.self, Assign.self, Plan.self])

    struct Suggest: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rank the candidates for a ticket and say why; list who is excluded and why.")
        @OptionGroup var field: FieldOptions
        @Argument(help: "Ticket id.") var ticket: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let ops = try field.open()
            let id = try parseTicketID(ticket)
            let suggestion: DispatchSuggestion
            do { suggestion = try ops.suggest(ticketID: id, now: .now()) } catch { throw deskFailure(error) }
            if json {
                print(try encodeJSON(suggestion))
                return
            }
            print("ticket #\(suggestion.ticket): needs \(suggestion.skills.isEmpty ? "no particular trade" : suggestion.skills.joined(separator: ", "))"
                  + (suggestion.deadline.map { "; on site by \($0)" } ?? "; no on-site deadline running"))
            if suggestion.candidates.isEmpty { print("nobody can take it; see the exclusions below") }
            for c in suggestion.candidates {
                print("\(c.rank). \(c.partner == nil ? c.engineer : "partner \(c.engineer)") (\(c.name)): ETA \(c.eta_minutes) min, \(c.distance_km) km"
                      + (c.sla_slack_minutes.map { ", slack \($0) min" } ?? "") + ", \(c.workload) open job(s)")
                for r in c.reasons { print("     \(r)") }
            }
            if !suggestion.excluded.isEmpty {
                print("excluded:")
                for x in suggestion.excluded { print("  \(x.engineer): \(x.why)") }
            }
        }
    }

    struct Assign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send an engineer to a ticket; they are notified. The first responder stays the owner. Reassigning needs --reason.")
        @OptionGroup var field: FieldOptions
        @Argument(help: "Ticket id.") var ticket: String
        @Option(help: "Engineer id (see `fieldwatch dispatch suggest`).") var engineer: String
        @Option(name: .customLong("by"), help: "Who decides; recorded in the audit trail.") var actor: String
        @Option(help: "Why (required to reassign).") var reason: String?
        @Option(help: "When, RFC 3339 (default now).") var at: String?

        func run() throws {
            let ops = try field.open()
            let (id, time) = (try parseTicketID(ticket), try pastTime(at))
            let t: Ticket
            do {
                t = try ops.assign(ticketID: id, engineer: engineer, by: actor, reason: reason, at: time)
            } catch { throw deskFailure(error) }
            print("ticket #\(t.id) assigned to \(engineer) by \(actor); owner \(t.owner ?? "none yet")")
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Assign every open ticket that has no engineer at once: fewest breached deadlines, then fewest left out, then least travel.",
            discussion: "Prints the plan; --apply --by NAME makes the assignments (each audited and notified as with `assign`).")
        @OptionGroup var field: FieldOptions
        @Flag(help: "Print JSON.") var json = false
        @Flag(help: "Make the assignments.") var apply = false
        @Option(name: .customLong("by"), help: "Who decides (required with --apply).") var actor: String?

        func validate() throws {
            if apply && actor == nil { throw ValidationError("--apply needs --by NAME: who decides the assignments") }
        }

        func run() throws {
            let ops = try field.open()
            let plan: DispatchPlan
            do { plan = try ops.plan(now: .now()) } catch { throw deskFailure(error) }
            if json {
                print(try encodeJSON(plan))
            } else {
                print("\(plan.assignments.count) ticket(s) assigned, \(plan.unassigned.count) left out, \(plan.breaches) breach(es), \(plan.total_km) km in all")
                for a in plan.assignments { print("  #\(a.ticket) → \(a.engineer): ETA \(a.eta_minutes) min, \(a.distance_km) km\(a.late ? ", LATE" : "")") }
                for u in plan.unassigned { print("  #\(u.ticket): nobody (\(u.why))") }
            }
            guard apply, let actor else { return }
            for a in plan.assignments {
                do { try ops.assign(ticketID: a.ticket, engineer: a.engineer, by: actor, reason: "dispatch plan", at: .now()) } catch { throw deskFailure(error) }
            }
            if !json { print("applied: \(plan.assignments.count) assignment(s) by \(actor)") }
        }
    }
}

func parseTicketID(_ text: String) throws -> Int64 {
    guard let n = Int64(text.trimmingCharacters(in: CharacterSet(charactersIn: "#"))) else {
        throw ValidationError("\"\(text)\" is not a ticket id; give the number shown by `fieldwatch tickets list`")
    }
    return n
}
