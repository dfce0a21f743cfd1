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
        subcommands: [Monthly.self])

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

        func run() throws {
            guard let zone = TimeZone(identifier: timezone) else { throw ValidationError("--timezone \(timezone): not an IANA time zone such as Asia/Shanghai") }
            guard let period = MonthlyReport.period(month, timeZone: zone) else { throw ValidationError("--month \(month): expected YYYY-MM, such as 2026-11") }
            let store = try location.open()
            let catalogue = (try? ProfileLoader.load(paths: [profiles])) ?? [:]
            let kpis = ServiceKPIs.compute(try store.kpiRecords(from: period.from, to: period.to), from: period.from, to: period.to, now: .now(),
                                           component: { catalogue[$0]?.fault($1)?.component })
            do {
                try MonthlyReport.html(kpis, month: month, timeZone: timezone, generatedAt: .now()).write(toFile: out, atomically: true, encoding: .utf8)
                if let csv { try MonthlyReport.csv(kpis).write(toFile: csv, atomically: true, encoding: .utf8) }
            } catch {
                throw ValidationError("cannot write the report: \(error.localizedDescription); check that the folder exists and is writable")
            }
            let first = kpis.firstContact.map { String(format: "first contact mean %.0f min", $0.mean) } ?? "no first contact recorded"
            print("\(out): \(month), \(kpis.tickets) ticket(s), \(kpis.resolved) resolved, \(first)\(csv.map { "; CSV \($0)" } ?? "")")
        }
    }
}
