import ArgumentParser
import FieldwatchCore
import Foundation
import Logging
import Profiles
import ServiceDesk
import Storage
import Synchronization

/// `fieldwatch-sim field-month`: a month of field work, run through the real service desk on a
/// fresh database: faults open tickets (forecasts, limits crossed, customer calls), the best
/// candidate is assigned (reserving the fault's parts), visits check in and finish, parts are
/// consumed, reordered and received after their lead time. What it assumes about the world (how
/// often machines fail, how often a repair with the right parts works) is stated below and in
/// `--help`; everything it reports is computed by the product's own code: the KPIs, the cost
/// report and the parts forecast.
struct FieldMonthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "field-month",
        abstract: "Simulate a month of dispatch, visits and spare parts through the service desk; print first-time fix, costs and replenishment.",
        discussion: """
            Assumptions (the world, not the product): each device fails --rate times a month on \
            average (Poisson), at a uniformly random time, with a fault drawn from its profile's \
            fault catalogue; half the faults are seen coming by a forecast (the limit is \
            predicted --forecast-days ahead at most, a quarter of that at least), 30 % cross a limit, 20 % are called in by the customer \
            (15 % of those fixed remotely). A visit with every part the fault needs fixes it 92 % \
            of the time (4 % misdiagnosis, 4 % needs a follow-up); without them it is not fixed \
            (missing_part) and a second visit follows once the part can be had. 3 % of fixes do \
            not hold: the fault comes back 10 days later. Labour is the fault's repair_time × 0.8 \
            to 1.3. Replenishment: --replenish predictive orders what `parts replenish` says each \
            morning; static orders a part's safety stock × 2 when it falls below its safety \
            stock, as a reorder-level system does. Orders arrive after the part's lead time. \
            Same seed, same month.
            """)

    @Option(help: "SQLite file to create (must not exist); open it afterwards with fieldwatch (report monthly, kpis, report costs).") var db: String
    @Option(help: "Inventory of sites and devices.") var inventory = "Simulator/demo.yaml"
    @Option(help: "Directory of device profiles.") var profiles = "DeviceProfiles"
    @Option(help: "Field-team file.") var team = "ServicePolicy/demo-team.yaml"
    @Option(help: "Parts file (catalogue and starting stock).") var parts = "ServicePolicy/demo-parts.yaml"
    @Option(help: "The month, YYYY-MM.") var month = "2026-11"
    @Option(help: "Copies of each inventory device (a bigger fleet on the same sites).") var fleet = 10
    @Option(help: "Faults per device per month, on average.") var rate = 0.5
    @Option(help: "predictive or static.") var replenish = "predictive"
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "A forecast sees the limit crossing this many days ahead at most (at least a quarter of it).") var forecastDays = 4.0

    func run() async throws {
        guard !FileManager.default.fileExists(atPath: db) else { throw ValidationError("\(db) exists; give a new file") }
        guard ["predictive", "static"].contains(replenish) else { throw ValidationError("--replenish predictive or static") }
        let catalogue = try ProfileLoader.load(paths: [profiles])
        let base = try Inventory.load(file: inventory, profiles: catalogue)
        var devices: [Device] = []
        for copy in 1...max(1, fleet) {
            for d in base.devices {
                devices.append(Device(id: DeviceID(fleet == 1 ? d.id.rawValue : "\(d.id.rawValue)-\(copy)"), site: d.site, profileID: d.profileID, name: d.name,
                                      warrantyUntil: d.warrantyUntil, contract: d.contract))
            }
        }
        let fleetInventory = Inventory(sites: base.sites, devices: devices, sourceFile: inventory)
        guard let period = MonthlyReport.period(month, timeZone: TimeZone(identifier: "UTC")!) else { throw ValidationError("--month YYYY-MM") }

        let clock = SimClock(period.from - .seconds(86_400))
        let store = try TicketStore(path: db)
        let rules = ServiceRules(policy: .default, directory: SiteDirectory(inventory: fleetInventory, profiles: catalogue))
        let workflow = TicketWorkflow(store: store, rules: rules, clock: clock.read)
        let ops = FieldOperations(workflow: workflow, team: SQLiteFieldTeamStore(store), inventory: fleetInventory, profiles: catalogue)
        var quiet = Logger(label: "field-month")
        quiet.logLevel = .warning
        let desk = TicketDesk(store: store, rules: rules, logger: quiet, now: clock.read)
        let stock = SQLitePartsStore(store)
        _ = try ops.importTeam(try FieldTeamFile.load(file: team), source: team, actor: "field-month", at: clock.now)
        _ = try stock.importCatalogue(try PartsFile.load(file: parts, profiles: catalogue), source: parts, actor: "field-month", at: clock.now)
        let engineers = try SQLiteFieldTeamStore(store).engineers(includeInactive: false)
        let supervisor = engineers.first { $0.role == .supervisor }?.id ?? "supervisor"

        // The month's faults, in time order.
        var rng = SplitMix64(seed: seed)
        struct Fault { var at: Timestamp; var device: Device; var fault: FaultSpec; var kind: Int; var repeatOf: Int64? }
        var faults: [Fault] = []
        let span = Double(period.to.milliseconds - period.from.milliseconds)
        for d in devices {
            guard let profile = catalogue[d.profileID], !profile.faults.isEmpty else { continue }
            var n = 0, p = exp(-rate), u = rng.nextDouble()
            while u > p { n += 1; p += exp(-rate) * pow(rate, Double(n)) / Double((1...n).reduce(1, *)) }
            for _ in 0..<n {
                let at = period.from + .milliseconds(Int64(rng.nextDouble() * span))
                let r = rng.nextDouble()
                faults.append(Fault(at: at, device: d, fault: profile.faults[Int(rng.nextDouble() * Double(profile.faults.count)) % profile.faults.count],
                                    kind: r < 0.5 ? 0 : r < 0.8 ? 1 : 2, repeatOf: nil))
            }
        }
        faults.sort { $0.at < $1.at }

        var pending: [(part: String, quantity: Int, due: Timestamp, location: String)] = []
        var orders: [(day: String, part: String, quantity: Int, why: String, tickets: [Int64])] = []
        var missingPart = 0, visits = 0
        var unassigned: [String] = []
        var day = period.from
        var i = 0
        var scheduled: [(at: Timestamp, ticket: Int64, engineer: String, needs: [PartRequirement], labour: Double, forced: Bool)] = []

        func labour(_ f: FaultSpec) -> Double {
            let hours = (f.repairTime?.secondsDouble ?? 5400) / 3600
            return (hours * (0.8 + 0.5 * rng.nextDouble()) * 4).rounded() / 4
        }
        func partsText(_ needs: [PartRequirement]) -> String? { needs.isEmpty ? nil : needs.map { "\($0.part):\($0.quantity)" }.joined(separator: ",") }
        func holdsAll(_ ticket: Int64, _ needs: [PartRequirement]) throws -> Bool {
            guard !needs.isEmpty else { return true }
            var held: [String: Int] = [:]
            for m in try stock.movements(part: nil) where m.ticketID == ticket && m.from != nil && (m.kind == .reserve || m.kind == .release) {
                held[m.part, default: 0] += m.kind == .reserve ? m.quantity : -m.quantity
            }
            return needs.allSatisfy { (held[$0.part] ?? 0) >= $0.quantity }
        }
        /// The engineer can collect what was not reserved: free stock anywhere covers it.
        func canCollect(_ needs: [PartRequirement]) throws -> Bool {
            let free = Dictionary(grouping: try stock.stock(), by: \.part).mapValues { $0.reduce(0) { $0 + $1.available } }
            return needs.allSatisfy { (free[$0.part] ?? 0) >= $0.quantity }
        }
        func finish(_ ticket: Ticket, engineer: String, at: Timestamp, needs: [PartRequirement], hours: Double, forceFixed: Bool) throws {
            clock.set(at)
            let visit = try ops.startVisit(ticketID: ticket.id, engineer: engineer,
                                           position: fleetInventory.site(ticket.site).map { GeoPoint(latitude: $0.latitude, longitude: $0.longitude) }, at: at)
            visits += 1
            let done = at + .seconds(Int64(hours * 3600))
            clock.set(done)
            let withParts = try holdsAll(ticket.id, needs) || canCollect(needs) || forceFixed
            let r = rng.nextDouble()
            if !withParts {
                missingPart += 1
                _ = try ops.finishVisit(visit.id, outcome: .notFixed, reason: .missingPart, work: "diagnosed; the part was not in stock", labourHours: hours / 2,
                                        parts: nil, at: done)
                let lead = needs.compactMap { n in try? stock.parts(includeInactive: false).first { $0.number == n.part }?.leadTimeDays }.max() ?? 3
                scheduled.append((done + .seconds(Int64((lead + 1) * 86_400)), ticket.id, engineer, needs, hours, true))
                return
            }
            if !forceFixed && r >= 0.92 {
                _ = try ops.finishVisit(visit.id, outcome: .notFixed, reason: r < 0.96 ? .misdiagnosis : .needsFollowUp, work: "first attempt did not clear the fault",
                                        labourHours: hours, parts: nil, at: done)
                scheduled.append((done + .seconds(86_400), ticket.id, engineer, needs, hours, true))
                return
            }
            if ticket.grade == .urgent, try store.solutions(ticketID: ticket.id).isEmpty {
                _ = try workflow.propose(ticketID: ticket.id, actor: engineer, diagnosis: "\(ticket.faultCode)", plannedWork: "repair per the fault catalogue",
                                         parts: partsText(needs) ?? "", estimatedCost: 100, at: done - .seconds(600))
                _ = try workflow.decide(ticketID: ticket.id, approve: true, actor: supervisor, note: nil, at: done - .seconds(300))
            }
            _ = try ops.finishVisit(visit.id, outcome: .fixed, reason: nil, work: "repaired", labourHours: hours, parts: partsText(needs), at: done)
        }

        while day < period.to {
            let morning = day + .seconds(8 * 3600)
            // Visits due before `until`, in time order.
            func runDue(until: Timestamp) throws {
                while let k = scheduled.indices.filter({ scheduled[$0].at < until }).min(by: { scheduled[$0].at < scheduled[$1].at }) {
                    let v = scheduled.remove(at: k)
                    guard let t = try store.ticket(id: v.ticket), t.status == .dispatched || t.status == .onSite else { continue }
                    try finish(t, engineer: v.engineer, at: v.at, needs: v.needs, hours: v.labour, forceFixed: v.forced)
                }
            }
            try runDue(until: morning)
            clock.set(morning)
            // Deliveries due today, then the day's orders.
            for (k, o) in pending.enumerated().reversed() where o.due <= morning {
                _ = try stock.record(StockMovement(at: morning, kind: .receive, part: o.part, quantity: o.quantity, to: o.location, actor: "stores",
                                                   reason: "order of \(String(o.due.rfc3339.prefix(10)))"), kind: .warehouse)
                pending.remove(at: k)
            }
            let onOrder = Dictionary(pending.map { ($0.part, $0.quantity) }, uniquingKeysWith: +)
            if replenish == "predictive" {
                let forecast = try PartForecast.load(store: store, profiles: catalogue, now: morning)
                for o in ReplenishOrder.compute(forecast, stock: try stock.stock()) where o.quantity > (onOrder[o.part] ?? 0) {
                    let q = o.quantity - (onOrder[o.part] ?? 0)
                    let lead = try stock.parts(includeInactive: false).first { $0.number == o.part }?.leadTimeDays ?? 7
                    pending.append((o.part, q, morning + .seconds(Int64(lead * 86_400)), o.location == "the warehouse" ? "wh-shenzhen" : o.location))
                    orders.append((String(morning.rfc3339.prefix(10)), o.part, q, o.why, o.tickets))
                }
            } else {
                let levels = Dictionary(grouping: try stock.stock(), by: \.part).mapValues { $0.reduce(0) { $0 + $1.available } }
                for part in try stock.parts(includeInactive: false) where (levels[part.number] ?? 0) < part.safetyStock && onOrder[part.number] == nil {
                    let q = max(1, part.safetyStock * 2)
                    pending.append((part.number, q, morning + .seconds(Int64(part.leadTimeDays * 86_400)), "wh-shenzhen"))
                    orders.append((String(morning.rfc3339.prefix(10)), part.number, q, "below the safety stock of \(part.safetyStock)", []))
                }
            }
            let tomorrow = day + .seconds(86_400)

            // Today's faults.
            while i < faults.count && faults[i].at < tomorrow {
                let f = faults[i]
                i += 1
                try runDue(until: f.at)  // what happened before this fault, in time order
                clock.set(f.at)
                let site = f.device.site
                let ticket: Ticket
                if f.kind == 2 {
                    ticket = try workflow.report(CustomerReport(device: f.device.id, faultCode: f.fault.code, channel: .phone, reporter: "site manager",
                                                                description: f.fault.name, severity: .critical), at: f.at).ticket
                } else {
                    var a = Anomaly(site: site, device: f.device.id, sensor: "sim", faultCode: f.fault.code, transition: .raised,
                                    severity: f.kind == 0 ? .warning : .critical, detectedAt: f.at, conditionSince: f.at, value: 1, limit: 1, unit: "",
                                    detector: f.kind == 0 ? "trend-forecast" : "threshold", detectorVersion: 1, profileID: f.device.profileID,
                                    profileVersion: 1, summary: f.fault.name, evidence: [])
                    if f.kind == 0 {
                        let ahead = Duration.seconds(Int64(forecastDays * (0.25 + 0.75 * rng.nextDouble()) * 86_400))
                        a.forecast = LimitForecast(limit: 1, crossingAt: f.at + ahead, earliest: f.at + ahead * 0.8, latest: f.at + ahead * 1.25,
                                                   slopePerHour: 0.1, level: 0.5, fittedAt: f.at, windowStart: f.at - .seconds(6 * 3600), points: 48)
                    }
                    desk.submit(a)
                    await desk.drain()
                    guard let t = try store.tickets(openOnly: true).first(where: { $0.device == f.device.id && $0.faultCode == f.fault.code }) else { continue }
                    ticket = t
                }
                guard ticket.status == .new else { continue }  // joined an open ticket
                // Out of hours nobody in house can be there before the deadline: the morning
                // dispatcher sends the first engineer on shift (the next working mornings, 09:00 Shanghai).
                var when = f.at
                var best: DispatchCandidate?
                var why = "no candidate"
                for attempt in 0..<5 {
                    if attempt > 0 {
                        let dayStart = Int64((Double(when.milliseconds) / 86_400_000).rounded(.down)) * 86_400_000
                        when = Timestamp(milliseconds: dayStart + 86_400_000 + 3_600_000)
                    }
                    clock.set(when)
                    let suggestion = try ops.suggest(ticketID: ticket.id, now: when)
                    best = suggestion.candidates.first { $0.partner == nil }
                    why = suggestion.excluded.filter { !$0.why.hasPrefix("a ") }.map { "\($0.engineer): \($0.why)" }.first ?? why
                    if best != nil { break }
                }
                guard let best else {
                    unassigned.append("#\(ticket.id) \(ticket.faultCode) (\(why))")
                    continue
                }
                let engineer = best.engineer
                _ = try ops.assign(ticketID: ticket.id, engineer: engineer, by: "dispatch", reason: nil, at: when + .seconds(300))
                for (k, step) in [TicketAction.acknowledge, .contact].enumerated() {
                    try workflow.perform(step, ticketID: ticket.id, actor: engineer, at: when + .seconds(Int64(600 * (k + 1))))
                }
                // Some calls are fixed over the phone, before anyone drives out.
                if f.kind == 2 && rng.nextDouble() < 0.15 {
                    clock.set(when + .seconds(2400))
                    if ticket.grade == .urgent {
                        _ = try workflow.propose(ticketID: ticket.id, actor: engineer, diagnosis: "\(ticket.faultCode)", plannedWork: "guided reset",
                                                 parts: "", estimatedCost: 0, at: when + .seconds(1500))
                        _ = try workflow.decide(ticketID: ticket.id, approve: true, actor: supervisor, note: nil, at: when + .seconds(1800))
                    }
                    _ = try ops.remoteAssist(ticketID: ticket.id, by: engineer, checked: "live telemetry with the customer", instructions: "reset and restart",
                                             outcome: .fixed, at: when + .seconds(2400))
                    continue
                }
                try workflow.perform(.dispatch, ticketID: ticket.id, actor: engineer, at: when + .seconds(1800))
                // A forecast leaves time: the visit is planned a day before the earliest predicted
                // crossing (the next morning at the soonest), so parts ordered now can arrive;
                // otherwise the engineer goes now.
                let eta = when + .seconds(Int64(best.eta_minutes * 60) + 1800)
                var visitAt = eta
                if let earliest = ticket.forecast?.earliest {
                    visitAt = max(eta, tomorrow + .seconds(3600), earliest - .seconds(86_400))
                }
                scheduled.append((visitAt, ticket.id, engineer, f.fault.parts, labour(f.fault), false))
                if rng.nextDouble() < 0.03 {
                    let again = visitAt + .seconds(10 * 86_400)
                    if again < period.to {
                        faults.insert(Fault(at: again, device: f.device, fault: f.fault, kind: 1, repeatOf: ticket.id),
                                      at: faults[i...].firstIndex { $0.at > again } ?? faults.count)
                    }
                }
            }
            try runDue(until: tomorrow)
            day = tomorrow
        }

        clock.set(period.to + .seconds(86_400 * 30))
        let records = try store.kpiRecords(from: period.from, to: period.to)
        let kpis = ServiceKPIs.compute(records, from: period.from, to: period.to, now: clock.now)
        let costs = try CostReport.load(month: month, from: period.from, to: period.to, store: store, inventory: fleetInventory)
        let ftf = kpis.firstTimeFixRate
        print("field month \(month), \(devices.count) devices, replenishment \(replenish), seed \(seed): \(kpis.tickets) tickets, \(visits) visits")
        print(String(format: "  first-time fix %.1f %% (%d of %d tickets with a visit); not fixed: %@", (ftf.value ?? 0) * 100, ftf.fixedFirstTime, ftf.tickets,
                     ftf.notFixedReasons.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
        print(String(format: "  remote resolution %.1f %%, visits per ticket %.2f, predictive lead: %d forecast tickets, %.0f %% repaired before the crossing",
                     (kpis.remoteResolutionRate ?? 0) * 100, kpis.visitsPerTicket ?? 0, kpis.predictiveLead.tickets, (kpis.predictiveLead.share ?? 0) * 100))
        let t = costs.totals
        print(String(format: "  costs: warranty %.2f, contract %.2f, billable %.2f; %.1f labour hours; %d unpriced lines", t.warranty, t.contract, t.billable,
                     t.labour_hours, t.unpriced_lines))
        for g in costs.by_customer { print(String(format: "    %@: warranty %.2f, contract %.2f, billable %.2f", g.key, g.warranty, g.contract, g.billable)) }
        print("  visits that found no part: \(missingPart); orders placed: \(orders.count)")
        if !unassigned.isEmpty { print("  no in-house engineer for \(unassigned.count) ticket(s): \(unassigned.prefix(5).joined(separator: "; "))") }
        // Orders the forecasts asked for first: the worked example of predictive replenishment.
        for o in (orders.filter { !$0.tickets.isEmpty } + orders.filter { $0.tickets.isEmpty }).prefix(8) {
            print("    \(o.day) order \(o.quantity) × \(o.part): \(o.why)\(o.tickets.isEmpty ? "" : " (tickets \(o.tickets.map { "#\($0)" }.joined(separator: ", ")))")")
        }
    }
}

/// The simulation's clock: every component reads it, the loop moves it.
final class SimClock: Sendable {
    private let value: Mutex<Timestamp>
    init(_ start: Timestamp) { value = Mutex(start) }
    var now: Timestamp { value.withLock { $0 } }
    func set(_ t: Timestamp) { value.withLock { $0 = t } }
    var read: @Sendable () -> Timestamp { { self.now } }
}
