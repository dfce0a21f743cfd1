import FieldwatchCore
import Foundation

/// The monthly service report: one self-contained HTML file (inline CSS and SVG, no outside
/// request) and a CSV of the KPI table.
public enum MonthlyReport {
    public struct Row: Sendable, Equatable {
        public var kpi: String
        public var value: String
        public var target: String
        /// met, missed, not available, or info (no target).
        public var status: String
    }

    /// The month `YYYY-MM` in a time zone, as [start, end).
    public static func period(_ month: String, timeZone: TimeZone) -> (from: Timestamp, to: Timestamp)? {
        let parts = month.split(separator: "-")
        guard parts.count == 2, let y = Int(parts[0]), let m = Int(parts[1]), (1...12).contains(m), (2000...2200).contains(y) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        guard let start = calendar.date(from: DateComponents(year: y, month: m, day: 1)),
              let end = calendar.date(byAdding: .month, value: 1, to: start) else { return nil }
        return (Timestamp(start), Timestamp(end))
    }

    static func hours(_ minutes: Double) -> String { minutes < 120 ? String(format: "%.0f min", minutes) : String(format: "%.1f h", minutes / 60) }
    static func percent(_ share: Double) -> String { String(format: "%.1f %%", share * 100) }

    /// The KPI table against the brief's targets.
    public static func rows(_ k: ServiceKPIs) -> [Row] {
        var rows: [Row] = []
        if let f = k.firstContact {
            rows.append(Row(kpi: "First contact, mean", value: hours(f.mean), target: "≤ 2 h", status: f.mean <= 120 ? "met" : "missed"))
            rows.append(Row(kpi: "First contact, median / P90", value: "\(hours(f.median)) / \(hours(f.p90))", target: "", status: "info"))
        } else {
            rows.append(Row(kpi: "First contact, mean", value: "no contact recorded", target: "≤ 2 h", status: "not available"))
        }
        if let s = k.timeToSite {
            rows.append(Row(kpi: "Time to site, median / P90", value: "\(hours(s.median)) / \(hours(s.p90))", target: "≤ 24 h",
                            status: s.p90 <= 24 * 60 ? "met" : "missed"))
        } else {
            rows.append(Row(kpi: "Time to site", value: "no visit recorded", target: "≤ 24 h", status: "not available"))
        }
        rows.append(Row(kpi: "MTTR (ticket: opened → resolved), median", value: k.mttrTicket.map { hours($0.median) } ?? "—", target: "",
                        status: k.mttrTicket == nil ? "not available" : "info"))
        rows.append(Row(kpi: "MTTR (repair: on site → resolved), median", value: k.mttrRepair.map { hours($0.median) } ?? "—", target: "",
                        status: k.mttrRepair == nil ? "not available" : "info"))
        for c in k.slaCompliance where c.decided > 0 {
            rows.append(Row(kpi: "SLA compliance, \(c.grade)", value: "\(percent(c.share!)) (\(c.met) of \(c.decided) clocks)", target: "", status: "info"))
        }
        let ftf = k.firstTimeFixRate
        if let rate = ftf.value {
            let why = ftf.notFixedReasons.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.map { "\($0.key) \($0.value)" }
            rows.append(Row(kpi: "First-time fix rate", value: "\(percent(rate)) (\(ftf.fixedFirstTime) of \(ftf.tickets) tickets with a visit)"
                                + (why.isEmpty ? "" : "; not fixed: \(why.joined(separator: ", "))"),
                            target: "≥ 85 %", status: rate >= 0.85 ? "met" : "missed"))
        } else {
            rows.append(Row(kpi: "First-time fix rate", value: "no ticket resolved with a visit this month", target: "≥ 85 %", status: "not available"))
        }
        rows.append(Row(kpi: "Remote resolution rate", value: k.remoteResolutionRate.map(percent) ?? "—", target: "",
                        status: k.remoteResolutionRate == nil ? "not available" : "info"))
        rows.append(Row(kpi: "Visits per ticket", value: k.visitsPerTicket.map { String(format: "%.2f", $0) } ?? "—", target: "",
                        status: k.visitsPerTicket == nil ? "not available" : "info"))
        if let csat = k.csatMean {
            rows.append(Row(kpi: "Customer satisfaction (CSAT)", value: String(format: "%.2f / 5 (%@ of fixed tickets rated)", csat, percent(k.csatResponseRate ?? 0)),
                            target: "≥ 4.5 / 5", status: csat >= 4.5 ? "met" : "missed"))
        } else {
            rows.append(Row(kpi: "Customer satisfaction (CSAT)", value: "no rating this month", target: "≥ 4.5 / 5", status: "not available"))
        }
        if let closure = k.complaintClosure {
            rows.append(Row(kpi: "Complaint closure", value: "\(percent(closure)) of \(k.complaints) complaint(s)", target: "100 %", status: closure >= 1 ? "met" : "missed"))
        } else {
            rows.append(Row(kpi: "Complaint closure", value: "no complaint this month", target: "100 %", status: "not available"))
        }
        let lateBy = k.engineers.filter { $0.lateLoggedSteps > 0 }.map { "\($0.name) \($0.lateLoggedSteps)" }
        rows.append(Row(kpi: "Steps logged late", value: k.lateLoggedSteps == 0 ? "none" : "\(k.lateLoggedSteps)" + (lateBy.isEmpty ? "" : " (\(lateBy.joined(separator: ", ")))"),
                        target: "", status: "info"))
        let perModel = k.mtbfHours.filter { $0.fault == nil }
        if perModel.isEmpty {
            rows.append(Row(kpi: "MTBF (operating hours)", value: "no run-hours counter reported this month", target: "", status: "not available"))
        }
        for m in perModel {
            let ran = String(format: "%.0f h run by %d device(s)", m.operatingHours, m.devices)
            let worst = k.mtbfHours.first { $0.model == m.model && $0.fault != nil }
            rows.append(Row(kpi: "MTBF (operating hours), \(m.model)",
                            value: m.hours.map { String(format: "%.0f h", $0) + " (\(m.failures) failure(s) in \(ran))" + (worst.map { "; most frequent: \($0.fault!) \($0.failures)" } ?? "") }
                                ?? "no failure in \(ran)",
                            target: "", status: "info"))
        }
        let lead = k.predictiveLead
        if let share = lead.share {
            rows.append(Row(kpi: "Predictive lead time achieved", value: "\(percent(share)) of \(lead.tickets) forecast ticket(s) repaired before the predicted crossing; "
                                + "median \(hours(lead.medianLeadMinutes ?? 0)) from forecast to repair", target: "", status: "info"))
        } else {
            rows.append(Row(kpi: "Predictive lead time achieved", value: "no forecast ticket repaired this month", target: "", status: "not available"))
        }
        return rows
    }

    public static func csv(_ k: ServiceKPIs) -> String {
        func field(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        return "kpi,value,target,status\n" + rows(k).map { [$0.kpi, $0.value, $0.target, $0.status].map(field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A horizontal bar chart as inline SVG.
    static func bars(_ items: [ServiceKPIs.Count], id: String) -> String {
        guard let top = items.map(\.count).max(), top > 0 else { return "<p class=\"muted\">No data this month.</p>" }
        let height = 24 * items.count + 8
        let rows = items.enumerated().map { i, item -> String in
            let width = Double(item.count) / Double(top) * 300
            return """
                <text x="0" y="\(i * 24 + 17)" font-size="12">\(esc(item.key))</text>\
                <rect x="260" y="\(i * 24 + 5)" width="\(String(format: "%.1f", width))" height="16" fill="#0b6bcb"/>\
                <text x="\(String(format: "%.1f", 266 + width))" y="\(i * 24 + 17)" font-size="12">\(item.count)</text>
                """
        }.joined()
        return "<svg id=\"\(id)\" viewBox=\"0 0 620 \(height)\" width=\"620\" height=\"\(height)\" role=\"img\">\(rows)</svg>"
    }

    static func money(_ x: Double) -> String {
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.minimumFractionDigits = 2
        f.maximumFractionDigits = 2
        return f.string(from: NSNumber(value: x)) ?? String(format: "%.2f", x)
    }

    /// The "Costs: who pays" section: totals, then per customer and per equipment model.
    static func costsSection(_ c: CostReport?) -> String {
        guard let c else {
            return "<h2>Costs: who pays</h2><p class=\"muted\">Not included: give the inventory (warranties and contracts) with --inventory.</p>"
        }
        func rows(_ groups: [CostReport.Group]) -> String {
            groups.map { g in
                "<tr><td>\(esc(g.key))</td><td>\(money(g.warranty))</td><td>\(money(g.contract))</td><td>\(money(g.billable))</td><td>\(String(format: "%g", g.labour_hours))</td><td>\(g.unpriced_lines)</td></tr>"
            }.joined()
        }
        let head = "<tr><th></th><th>warranty</th><th>contract</th><th>billable</th><th>labour hours</th><th>unpriced lines</th></tr>"
        let t = c.totals
        return """
            <h2>Costs: who pays</h2>
            <p id="cost-totals">\(c.lines.count) cost line(s) from finished visits: warranty \(money(t.warranty)), contract \(money(t.contract)), \
            <b>billable \(money(t.billable))</b>; \(String(format: "%g", t.labour_hours)) labour hour(s)\(t.unpriced_lines > 0 ? "; \(t.unpriced_lines) part line(s) not in the parts catalogue, unpriced" : "").</p>
            \(c.lines.isEmpty ? "<p class=\"muted\">No visit was finished on this month's tickets.</p>" : """
            <table id="costs-by-customer">\(head.replacingOccurrences(of: "<th></th>", with: "<th>customer</th>"))\(rows(c.by_customer))</table>
            <table id="costs-by-model">\(head.replacingOccurrences(of: "<th></th>", with: "<th>equipment model</th>"))\(rows(c.by_model))</table>
            """)
            """
    }

    public static func html(_ k: ServiceKPIs, month: String, timeZone: String, generatedAt: Timestamp, costs: CostReport? = nil) -> String {
        let table = rows(k).map { r -> String in
            "<tr class=\"\(r.status.replacingOccurrences(of: " ", with: "-"))\"><td>\(esc(r.kpi))</td><td>\(esc(r.value))</td><td>\(esc(r.target))</td><td>\(esc(r.status))</td></tr>"
        }.joined(separator: "\n")
        let alarms = (k.falseAlarmsByDetector + k.falseAlarmsByProfile).map { a -> String in
            "<tr><td>\(esc(a.key))</td><td>\(a.predictive)</td><td>\(a.cancelled)</td><td>\(percent(a.rate))</td></tr>"
        }.joined()
        let staff = k.engineers.prefix(3).enumerated().map { i, e -> String in
            "<tr><td>\(i + 1)</td><td>\(esc(e.name))</td><td>\(e.resolved) of \(e.owned)</td><td>\(e.firstContactMedianMinutes.map(hours) ?? "—")</td><td>\(e.slaCompliance.map(percent) ?? "—")</td></tr>"
        }.joined()
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Fieldwatch service report \(esc(month))</title>
            <style>
            body { font: 14px/1.45 system-ui, sans-serif; color: #1d2733; max-width: 900px; margin: 2rem auto; padding: 0 1rem; }
            h1 { font-size: 1.5rem; } h2 { font-size: 1.1rem; margin-top: 2rem; border-bottom: 1px solid #dde3e9; }
            table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #dde3e9; }
            tr.met td:last-child { color: #1a7f37; font-weight: 600; } tr.missed td:last-child { color: #c62828; font-weight: 600; }
            tr.not-available td { color: #66717d; } .muted { color: #66717d; }
            .figures { display: flex; flex-wrap: wrap; gap: 1rem; } .figure { border: 1px solid #dde3e9; border-radius: 6px; padding: .5rem 1rem; }
            .figure b { font-size: 1.4rem; display: block; }
            </style></head><body>
            <h1>Service report — \(esc(month))</h1>
            <p class="muted">Tickets opened \(esc(k.from.rfc3339)) – \(esc(k.to.rfc3339)) (\(esc(timeZone))); KPI definitions \(esc(k.definitions)); \
            generated \(esc(generatedAt.rfc3339)). Drills are excluded. A KPI whose data is not recorded yet is marked "not available", never zero.</p>
            <div class="figures">
            <div class="figure"><b id="tickets">\(k.tickets)</b>tickets opened</div>
            <div class="figure"><b>\(k.resolved)</b>resolved</div>
            \(k.bySource.map { c -> String in "<div class=\"figure\"><b>\(c.count)</b>\(esc(c.key.replacingOccurrences(of: "_", with: " ")))</div>" }.joined())
            </div>
            <h2>KPIs against the targets</h2>
            <table id="kpis"><tr><th>KPI</th><th>this month</th><th>target</th><th>status</th></tr>
            \(table)
            </table>
            <h2>Tickets by grade</h2>
            \(bars(k.byGrade, id: "by-grade"))
            <h2>Most frequent faults (equipment model · fault)</h2>
            \(bars(k.topFaults, id: "top-faults"))
            <h2>Most frequent failing components (equipment model · component)</h2>
            \(bars(k.topComponents, id: "top-components"))
            <h2>Tickets by site</h2>
            \(bars(k.bySite, id: "by-site"))
            <h2>False alarms (cancelled predictive tickets)</h2>
            <table id="false-alarms"><tr><th>detector / profile</th><th>predictive tickets</th><th>cancelled</th><th>rate</th></tr>\(alarms)</table>
            <h2>Staff ranking (top 3)</h2>
            <table id="staff"><tr><th>#</th><th>owner</th><th>resolved</th><th>first contact, median</th><th>SLA compliance</th></tr>\(staff)</table>
            \(k.engineers.isEmpty ? "<p class=\"muted\">No ticket had an owner this month.</p>" : "")
            \(costsSection(costs))
            </body></html>
            """
    }
}
