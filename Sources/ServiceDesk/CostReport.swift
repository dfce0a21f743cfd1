import FieldwatchCore
import Foundation
import Profiles
import Storage

/// What the month's repairs cost and who pays: each visit's labour (hours × the engineer's
/// hourly rate) and parts, each line decided warranty (the device's warranty covered the day
/// the fault was opened), contract (a service contract on the device covers labour, parts or
/// both) or billable.
public struct CostReport: Codable, Sendable, Equatable {
    public struct Line: Codable, Sendable, Equatable {
        public var ticket: Int64
        public var visit: Int64
        public var device: String
        public var model: String
        public var fault_code: String
        public var customer: String
        /// labour or parts.
        public var kind: String
        /// The engineer for labour, the part number for parts.
        public var item: String
        public var quantity: Double
        /// nil: not priced (a part the parts catalogue does not list).
        public var unit_cost: Double?
        public var amount: Double?
        /// warranty, contract or billable.
        public var decision: String
        public var contract: String?
    }
    public struct Group: Codable, Sendable, Equatable {
        public var key: String
        public var warranty: Double
        public var contract: Double
        public var billable: Double
        public var labour_hours: Double
        public var unpriced_lines: Int
    }
    public var month: String
    public var lines: [Line]
    public var totals: Group
    public var by_ticket: [Group]
    public var by_model: [Group]
    public var by_fault: [Group]
    public var by_customer: [Group]

    /// The month's report from the store: labour rates from the field team, part prices from
    /// the parts catalogue (a part outside it stays unpriced, counted, never zero).
    public static func load(month: String, from: Timestamp, to: Timestamp, store: TicketStore, inventory: Inventory) throws(StorageError) -> CostReport {
        let rates = Dictionary(try SQLiteFieldTeamStore(store).engineers(includeInactive: true).map { ($0.id, $0.hourlyRate) }, uniquingKeysWith: { a, _ in a })
        let prices = Dictionary(try SQLitePartsStore(store).parts(includeInactive: true).map { ($0.number, $0.unitCost) }, uniquingKeysWith: { a, _ in a })
        return compute(month: month, records: try store.kpiRecords(from: from, to: to), inventory: inventory, rates: rates, partCost: { prices[$0] })
    }

    /// - Parameters:
    ///   - rates: hourly labour rate per engineer id.
    ///   - partCost: a part's unit cost, when known.
    public static func compute(month: String, records: [KPIRecord], inventory: Inventory, rates: [String: Double],
                               partCost: (String) -> Double? = { _ in nil }) -> CostReport {
        var lines: [Line] = []
        for r in records {
            let t = r.ticket
            let device = inventory.device(t.device)
            let opened = String(t.openedAt.rfc3339.prefix(10))
            func decide(_ kind: ServiceContract.Covers) -> (String, String?) {
                if let until = device?.warrantyUntil, opened <= until { return ("warranty", nil) }
                if let c = device?.contract, c.covers == .both || c.covers == kind { return ("contract", c.id) }
                return ("billable", nil)
            }
            let model = t.profileID ?? device?.profileID ?? "unknown"
            for v in r.visits where v.finishedAt != nil {
                let hours = v.labourHours ?? 0
                let rate = rates[v.engineer]
                let (decision, contract) = decide(.labour)
                lines.append(Line(ticket: t.id, visit: v.id, device: t.device.rawValue, model: model, fault_code: t.faultCode.rawValue,
                                  customer: t.customer ?? "unknown", kind: "labour", item: v.engineer, quantity: hours, unit_cost: rate,
                                  amount: rate.map { ($0 * hours * 100).rounded() / 100 }, decision: decision, contract: contract))
                for item in (v.parts ?? "").split(separator: ",") {
                    let pieces = item.split(separator: ":")
                    guard pieces.count == 2, let qty = Double(pieces[1]) else { continue }
                    let part = String(pieces[0]), unit = partCost(part)
                    let (decision, contract) = decide(.parts)
                    lines.append(Line(ticket: t.id, visit: v.id, device: t.device.rawValue, model: model, fault_code: t.faultCode.rawValue,
                                      customer: t.customer ?? "unknown", kind: "parts", item: part, quantity: qty, unit_cost: unit,
                                      amount: unit.map { ($0 * qty * 100).rounded() / 100 }, decision: decision, contract: contract))
                }
            }
        }
        func groups(_ key: (Line) -> String) -> [Group] {
            Dictionary(grouping: lines, by: key).map { sum($0.key, $0.value) }.sorted { ($0.billable + $0.contract + $0.warranty, $1.key) > ($1.billable + $1.contract + $1.warranty, $0.key) }
        }
        return CostReport(month: month, lines: lines, totals: sum("all", lines), by_ticket: groups { "#\($0.ticket)" }, by_model: groups(\.model),
                          by_fault: groups { "\($0.model) · \($0.fault_code)" }, by_customer: groups(\.customer))
    }

    static func sum(_ key: String, _ lines: [Line]) -> Group {
        var g = Group(key: key, warranty: 0, contract: 0, billable: 0, labour_hours: 0, unpriced_lines: 0)
        for l in lines {
            if l.kind == "labour" { g.labour_hours += l.quantity }
            guard let amount = l.amount else { g.unpriced_lines += 1; continue }
            switch l.decision {
            case "warranty": g.warranty += amount
            case "contract": g.contract += amount
            default: g.billable += amount
            }
        }
        return g
    }
}
