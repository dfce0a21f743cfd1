import FieldwatchCore
import Foundation

/// One line of a dispatch plan.
public struct PlannedAssignment: Codable, Sendable, Equatable {
    public var ticket: Int64
    public var engineer: String
    public var eta_minutes: Int
    public var distance_km: Double
    /// Arrives after the on-site deadline.
    public var late: Bool
}

/// `fieldwatch dispatch plan`: one assignment for every waiting ticket at once.
public struct DispatchPlan: Codable, Sendable, Equatable {
    public struct Unassigned: Codable, Sendable, Equatable {
        public var ticket: Int64
        public var why: String
    }
    public var assignments: [PlannedAssignment]
    public var unassigned: [Unassigned]
    /// Tickets assigned late or not at all.
    public var breaches: Int
    public var total_km: Double
}

extension Dispatcher {
    /// Assigns every job at once: the fewest breached deadlines (late or left without an
    /// engineer), then the fewest left without one, then the least travel. Each engineer
    /// takes at most their free places (maximum jobs less the open ones); a job nobody can
    /// take (skills, shift) is left out with the reason.
    ///
    /// Travel is measured from each engineer's current origin (last position, current job or
    /// home) to each job, as for `suggest`: the plan does not chain one engineer's trips.
    /// Exact (a min-cost assignment) over each job's `neighbours` best engineers; with as many
    /// neighbours as engineers, exact over all of them.
    public func plan(_ jobs: [DispatchJob], now: Timestamp, neighbours: Int = 12) -> DispatchPlan {
        let field = engineers.filter { $0.role == .engineer }
        let speed = settings.speedKmh, access = settings.accessMinutes
        var people: [(id: String, origin: GeoPoint, capacity: Int, skills: Set<String>, shift: Shift)] = []
        for e in field {
            let capacity = e.maxJobs - (self.jobs[e.id]?.count ?? 0)
            people.append((e.id, origin(e, excluding: -1).point, max(0, capacity), Set(e.skills.filter { $0.isValid(at: now) }.map(\.skill)), e.shift))
        }
        // When each engineer is next on shift, per time zone (a shift without its own zone counts in the job's).
        var availability: [Int: [String: Int64]] = [:]
        func available(_ i: Int, zone: String?) -> Int64 {
            let key = people[i].shift.timeZone ?? zone ?? "UTC"
            if let t = availability[i]?[key] { return t }
            let tz = TimeZone(identifier: key) ?? TimeZone(identifier: "UTC")!
            let shift = people[i].shift
            let cal = BusinessCalendar(weekly: shift.weekly?.mapValues { $0.map { BusinessCalendar.Window(start: $0.start, end: $0.end) } },
                                       holidays: Set(shift.holidays), timeZone: tz)
            let t = cal.adding(0, to: now).milliseconds
            availability[i, default: [:]][key] = t
            return t
        }
        // Each job's feasible engineers, best first, with (late, km, eta).
        struct Option { var engineer: Int; var late: Bool; var km: Double; var eta: Int64 }
        var options: [[Option]] = []
        var why: [Int: String] = [:]
        for (j, job) in jobs.enumerated() {
            var list: [Option] = []
            var reasons: Set<String> = []
            for i in people.indices {
                guard people[i].capacity > 0 else { reasons.insert("no free place"); continue }
                guard job.skills.allSatisfy(people[i].skills.contains) else { reasons.insert("skills"); continue }
                let start = available(i, zone: job.timeZone)
                if let d = job.deadline, start > now.milliseconds, start > d.milliseconds { reasons.insert("shift"); continue }
                let km = people[i].origin.kilometres(to: job.position)
                let eta = start + Int64((km / speed * 60 + access) * 60_000)
                list.append(Option(engineer: i, late: job.deadline.map { eta > $0.milliseconds } ?? false, km: km, eta: eta))
            }
            list.sort { ($0.late ? 1 : 0, $0.km) < ($1.late ? 1 : 0, $1.km) }
            options.append(Array(list.prefix(max(1, neighbours))))
            if list.isEmpty {
                why[j] = reasons.contains("skills") && !reasons.contains("shift") ? "nobody free holds \(job.skills.joined(separator: ", ")) with a valid certificate"
                    : reasons.isEmpty ? "no field engineer on the team" : "nobody free with the skills is on shift before the on-site deadline"
            }
        }
        let cost: [[Int: Option]] = options.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.engineer, $0) }) }

        // Exact on the candidate graph: a min-cost assignment (transportation problem) by
        // successive shortest augmenting paths, one job at a time, Dijkstra over the engineers
        // with Johnson potentials. A path moves the new job to an engineer and may move jobs
        // already placed on along a chain, ending at a free place or at "nobody" (index m, no
        // limit). Costs in 10 m units, weighted so that one breach outweighs every other term and
        // one job left without an engineer outweighs all travel: fewest breaches, then fewest
        // left out, then least travel.
        let m = people.count, nobody = m
        let n = Int64(jobs.count)
        let unit = 0.01  // km per cost unit
        let longest = Int64((options.flatMap { $0.map(\.km) }.max() ?? 0) / unit) + 1
        let leftOut = longest * (n + 1), breach = leftOut * (n + 2)
        func price(_ o: Option) -> Int64 { (o.late ? breach : 0) + Int64((o.km / unit).rounded()) }
        let noneCost = breach + leftOut
        let prices: [[(e: Int, c: Int64)]] = options.map { $0.map { (e: $0.engineer, c: price($0)) } + [(e: nobody, c: noneCost)] }
        let priceOf: [[Int: Int64]] = prices.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.e, $0.c) }) }
        var free = people.map(\.capacity) + [Int.max]
        var assigned = [Int](repeating: -1, count: jobs.count)
        var paid = [Int64](repeating: 0, count: jobs.count)
        var onEngineer = [[Int]](repeating: [], count: m + 1)
        // Node m + 1 is the sink: every engineer with a free place (and nobody) has an edge to it
        // of cost 0, so each search can stop as soon as the sink is reached.
        let sink = m + 1
        var potential = [Int64](repeating: 0, count: m + 2)
        let order = jobs.indices.sorted { a, b in
            let da = jobs[a].deadline?.milliseconds ?? .max, db = jobs[b].deadline?.milliseconds ?? .max
            if da != db { return da < db }
            if jobs[a].tier != jobs[b].tier { return jobs[a].tier == .vip }
            return jobs[a].ticketID < jobs[b].ticketID
        }
        var label = [Int64](repeating: .max, count: m + 2)
        var viaJob = [Int](repeating: -1, count: m + 2), fromEngineer = [Int](repeating: -1, count: m + 2)
        var done = [Bool](repeating: false, count: m + 2)
        var touched: [Int] = []
        var heap = MinHeap()
        func relax(_ v: Int, _ value: Int64, job: Int, from: Int) {
            guard value < label[v] else { return }
            if label[v] == .max { touched.append(v) }
            label[v] = value
            viaJob[v] = job
            fromEngineer[v] = from
            heap.push(value, v)
        }
        for j in order {
            for v in touched {
                label[v] = .max
                done[v] = false
            }
            touched.removeAll(keepingCapacity: true)
            heap.removeAll()
            for (e, c) in prices[j] { relax(e, c - potential[e], job: j, from: -1) }
            var reachedSink = false
            while let (d, e) = heap.pop() {
                if done[e] || d > label[e] { continue }
                done[e] = true
                if e == sink {
                    reachedSink = true
                    break
                }
                if free[e] > 0 { relax(sink, d + potential[e] - potential[sink], job: -1, from: e) }
                for k in onEngineer[e] {
                    let base = d - paid[k] + potential[e]
                    for (e2, c2) in prices[k] where e2 != e && !done[e2] { relax(e2, base + c2 - potential[e2], job: k, from: e) }
                }
            }
            precondition(reachedSink, "nobody always has a free place")
            let dSink = label[sink]
            var e = fromEngineer[sink]
            free[e] -= 1
            while true {
                let k = viaJob[e], from = fromEngineer[e]
                if assigned[k] >= 0 { onEngineer[assigned[k]].removeAll { $0 == k } }
                assigned[k] = e
                paid[k] = priceOf[k][e]!
                onEngineer[e].append(k)
                if from < 0 { break }
                e = from
            }
            // Potentials: finalized nodes by their distance, everything else by the sink's.
            for v in 0..<(m + 2) { potential[v] += min(label[v], dSink) }
        }

        var lines: [PlannedAssignment] = []
        var unassigned: [DispatchPlan.Unassigned] = []
        var breaches = 0
        var km = 0.0
        for (j, job) in jobs.enumerated() {
            guard assigned[j] >= 0, assigned[j] < m, let o = cost[j][assigned[j]] else {
                breaches += 1
                unassigned.append(.init(ticket: job.ticketID, why: why[j] ?? "every suitable engineer's places are taken by tickets due sooner"))
                continue
            }
            if o.late { breaches += 1 }
            km += o.km
            lines.append(PlannedAssignment(ticket: job.ticketID, engineer: people[assigned[j]].id, eta_minutes: Int((o.eta - now.milliseconds) / 60_000),
                                           distance_km: (o.km * 10).rounded() / 10, late: o.late))
        }
        return DispatchPlan(assignments: lines.sorted { $0.ticket < $1.ticket }, unassigned: unassigned, breaches: breaches, total_km: (km * 10).rounded() / 10)
    }
}

/// A binary min-heap of (priority, engineer) for Dijkstra; stale entries are skipped by the caller.
struct MinHeap {
    private var items: [(Int64, Int)] = []

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ priority: Int64, _ value: Int) {
        items.append((priority, value))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent].0 <= items[i].0 { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> (Int64, Int)? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < items.count && items[l].0 < items[smallest].0 { smallest = l }
                if r < items.count && items[r].0 < items[smallest].0 { smallest = r }
                if smallest == i { break }
                items.swapAt(i, smallest)
                i = smallest
            }
        }
        return top
    }
}
