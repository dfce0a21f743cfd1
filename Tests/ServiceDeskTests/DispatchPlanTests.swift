import FieldwatchCore
import Foundation
import Testing
@testable import ServiceDesk

/// The plan against the exact optimum, found by trying every assignment of small instances.
@Suite("Dispatch plan")
struct DispatchPlanTests {
    struct Instance {
        var engineers: [Engineer]
        var loads: [String: [(ticket: Int64, position: GeoPoint)]]
        var jobs: [DispatchJob]
    }

    static func instance(seed: UInt64, jobs n: Int, engineers m: Int) -> Instance {
        var rng = SplitMix64(seed: seed)
        func point() -> GeoPoint { GeoPoint(latitude: 22.4 + rng.uniform() * 0.8, longitude: 113.6 + rng.uniform() * 0.9) }
        let trades = ["mechanical", "electrical", "instrumentation"]
        var engineers: [Engineer] = []
        var loads: [String: [(ticket: Int64, position: GeoPoint)]] = [:]
        for i in 0..<m {
            let held = trades.filter { _ in rng.uniform() < 0.7 }.map { HeldSkill(skill: $0) }
            let max = 1 + Int(rng.uniform() * 3)
            engineers.append(Engineer(id: "e\(i)", name: "E\(i)", skills: held, home: point(), maxJobs: max))
            if rng.uniform() < 0.3 { loads["e\(i)"] = [(ticket: 1000 + Int64(i), position: point())] }
        }
        let jobs = (0..<n).map { j in
            DispatchJob(ticketID: Int64(j + 1), site: SiteID("s\(j)"), position: point(), timeZone: "Asia/Shanghai",
                        skills: rng.uniform() < 0.6 ? [trades[Int(rng.uniform() * 3)]] : [],
                        deadline: dispatchNow + .seconds(Int64(30 + rng.uniform() * 150) * 60), tier: rng.uniform() < 0.2 ? .vip : .standard)
        }
        return Instance(engineers: engineers, loads: loads, jobs: jobs)
    }

    /// Every assignment (each job to an engineer with room, or to nobody), scored as the plan is.
    static func optimum(_ x: Instance, _ d: Dispatcher) -> (breaches: Int, unassigned: Int, km: Double) {
        let people = x.engineers
        var best = (breaches: Int.max, unassigned: Int.max, km: Double.infinity)
        var free = people.map { $0.maxJobs - (x.loads[$0.id]?.count ?? 0) }
        func origin(_ e: Engineer) -> GeoPoint { x.loads[e.id]?.first?.position ?? e.home }
        func visit(_ j: Int, _ breaches: Int, _ unassigned: Int, _ km: Double) {
            if j == x.jobs.count {
                if (breaches, unassigned) < (best.breaches, best.unassigned) || (breaches, unassigned) == (best.breaches, best.unassigned) && km < best.km {
                    best = (breaches, unassigned, km)
                }
                return
            }
            let job = x.jobs[j]
            visit(j + 1, breaches + 1, unassigned + 1, km)
            for (i, e) in people.enumerated() where free[i] > 0 && job.skills.allSatisfy({ s in e.skills.contains { $0.skill == s } }) {
                let distance = origin(e).kilometres(to: job.position)
                let eta = dispatchNow + .milliseconds(Int64((distance / d.settings.speedKmh * 60 + d.settings.accessMinutes) * 60_000))
                free[i] -= 1
                visit(j + 1, breaches + (eta > job.deadline! ? 1 : 0), unassigned, km + distance)
                free[i] += 1
            }
        }
        visit(0, 0, 0, 0)
        return best
    }

    @Test func withinFivePercentOfTheOptimalTravelAndNoExtraBreachOnSmallInstances() {
        var worst = 1.0, exact = 0
        for seed in UInt64(1)...150 {
            let x = Self.instance(seed: seed, jobs: 7, engineers: 4)
            let d = Dispatcher(engineers: x.engineers, jobs: x.loads)
            let plan = d.plan(x.jobs, now: dispatchNow)
            let best = Self.optimum(x, d)
            let planKm = plan.assignments.reduce(0.0) { sum, a in
                let job = x.jobs.first { $0.ticketID == a.ticket }!, e = x.engineers.first { $0.id == a.engineer }!
                return sum + (x.loads[e.id]?.first?.position ?? e.home).kilometres(to: job.position)
            }
            #expect(plan.breaches == best.breaches, "seed \(seed): \(plan.breaches) breaches against \(best.breaches) at best")
            #expect(plan.unassigned.count == best.unassigned, "seed \(seed)")
            if plan.breaches == best.breaches && plan.unassigned.count == best.unassigned {
                let ratio = best.km == 0 ? 1 : planKm / best.km
                worst = max(worst, ratio)
                if ratio < 1.000001 { exact += 1 }
                #expect(ratio <= 1.05, "seed \(seed): \(planKm) km against \(best.km) km at best")
            }
            // Nobody takes more than their free places.
            for e in x.engineers {
                #expect(plan.assignments.filter { $0.engineer == e.id }.count <= e.maxJobs - (x.loads[e.id]?.count ?? 0))
            }
        }
        print("dispatch plan on 150 instances of 7 jobs × 4 engineers: optimal travel in \(exact), worst ratio \(String(format: "%.4f", worst))")
    }

    @Test func aJobNobodyCanTakeIsLeftOutWithTheReason() {
        let d = Dispatcher(engineers: [engineer("a", at: 1, skills: [HeldSkill(skill: "electrical")], maxJobs: 1)])
        let plan = d.plan([job(skills: ["mechanical"]), job(skills: ["electrical"])].enumerated().map { i, j in
            var j = j
            j.ticketID = Int64(i + 1)
            return j
        }, now: dispatchNow)
        #expect(plan.assignments.map(\.ticket) == [2] && plan.unassigned.map(\.ticket) == [1])
        #expect(plan.unassigned.first?.why == "nobody free holds mechanical with a valid certificate")
        #expect(plan.breaches == 1)
    }
}
