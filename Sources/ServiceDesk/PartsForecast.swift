import FieldwatchCore
import Foundation
import Profiles
import Storage

/// Expected demand for each part over its lead time, from what was used and from the faults the
/// gateway sees coming, and the zero-stock warning that fires before stock runs out.
///
/// Demand over the lead time = the part's consumption in the last 90 days, scaled to its lead
/// time, + for each open predictive ticket whose fault needs the part (and does not hold it
/// reserved yet): the quantity × how often that detector's tickets for that profile turned out
/// real (1 − the false-alarm rate, with one real and one false alarm as prior so a new detector
/// counts as a coin toss, not a certainty) × whether the fault lands within the lead time (a
/// threshold ticket: it is already there; a forecast: its earliest predicted crossing falls
/// within the lead time). Customer-reported and manual tickets count in full.
///
/// Warning: when available stock company-wide − that demand falls below the safety stock; it
/// names the tickets that would wait for the part and their VIP customers.
public struct PartForecast: Codable, Sendable, Equatable {
    public struct Need: Codable, Sendable, Equatable {
        public var ticket: Int64
        public var quantity: Int
        /// 0…1: real-rate × within-lead-time.
        public var weight: Double
        public var customer: String?
        public var vip: Bool
        public var why: String
    }
    public var part: String
    public var available: Int
    public var safety_stock: Int
    public var lead_time_days: Double
    /// Used in the last 90 days, scaled to the lead time.
    public var history_demand: Double
    public var predicted_demand: Double
    public var reorder_point: Double
    public var needs: [Need]
    public var warning: String?
    /// Units to order so that available − demand is back at the safety stock.
    public var order: Int

    static let historyDays = 90.0

    /// - Parameters:
    ///   - consumed90: units used per part in the last 90 days.
    ///   - reservedFor: units of each part each ticket already holds reserved.
    ///   - realRate: the share of a detector's tickets on a profile that turned out real.
    public static func compute(parts: [Part], stock: [StockLevel], openTickets: [Ticket], profiles: [String: DeviceProfile],
                               consumed90: [String: Int], reservedFor: [Int64: [String: Int]], realRate: (Ticket) -> Double, now: Timestamp) -> [PartForecast] {
        let available = Dictionary(grouping: stock, by: \.part).mapValues { $0.reduce(0) { $0 + $1.available } }
        return parts.map { part in
            let lead = Duration.seconds(Int64(part.leadTimeDays * 86_400))
            var needs: [Need] = []
            for t in openTickets where !t.drill {
                guard let fault = t.profileID.flatMap({ profiles[$0]?.fault(t.faultCode) }),
                      let q = fault.parts.first(where: { $0.part == part.number })?.quantity else { continue }
                let outstanding = q - (reservedFor[t.id]?[part.number] ?? 0)
                guard outstanding > 0 else { continue }
                var weight = 1.0, why = "\(t.source.rawValue.replacingOccurrences(of: "_", with: " ")) ticket: the fault is there"
                if t.source == .predictive {
                    let real = realRate(t)
                    weight = real
                    why = String(format: "%.0f%% of %@ tickets on %@ were real", real * 100, t.detector ?? "these", t.profileID ?? "this model")
                    if let f = t.forecast {
                        if f.earliest > now + lead {
                            weight = 0
                            why += "; the predicted crossing (earliest \(f.earliest.rfc3339)) is beyond the lead time"
                        } else {
                            why += "; predicted to cross \(f.crossingAt.rfc3339), within the lead time"
                        }
                    }
                }
                guard weight > 0 else { continue }
                needs.append(Need(ticket: t.id, quantity: outstanding, weight: weight, customer: t.customer, vip: t.tier == .vip, why: why))
            }
            let history = Double(consumed90[part.number] ?? 0) / historyDays * part.leadTimeDays
            let predicted = history + needs.reduce(0) { $0 + Double($1.quantity) * $1.weight }
            let have = available[part.number] ?? 0
            let reorder = Double(part.safetyStock) + predicted
            var warning: String?
            var order = 0
            if Double(have) - predicted < Double(part.safetyStock) {
                order = max(0, Int((reorder - Double(have)).rounded(.up)))
                let waiting = needs.map { "#\($0.ticket)" }
                let vips = Set(needs.filter(\.vip).compactMap(\.customer)).sorted()
                warning = String(format: "%d available, %.1f expected over the %g-day lead time, safety stock %d", have, predicted, part.leadTimeDays, part.safetyStock)
                    + (waiting.isEmpty ? "" : "; waiting: \(waiting.joined(separator: ", "))") + (vips.isEmpty ? "" : "; VIP: \(vips.joined(separator: ", "))")
            }
            return PartForecast(part: part.number, available: have, safety_stock: part.safetyStock, lead_time_days: part.leadTimeDays,
                                history_demand: history, predicted_demand: predicted, reorder_point: reorder, needs: needs, warning: warning, order: order)
        }
    }

    /// The forecast from the store: open tickets, their reservations, the last 90 days' use and
    /// each detector's record on each profile (the last 180 days of tickets).
    public static func load(store: TicketStore, profiles: [String: DeviceProfile], now: Timestamp) throws(StorageError) -> [PartForecast] {
        let repository = SQLitePartsStore(store)
        let parts = try repository.parts(includeInactive: false)
        guard !parts.isEmpty else { return [] }
        let all = try store.tickets()
        let open = all.filter { ![.resolved, .closed, .cancelled].contains($0.status) }
        let since = now - .seconds(Int64(historyDays * 86_400))
        var consumed: [String: Int] = [:]
        var reserved: [Int64: [String: Int]] = [:]
        for m in try repository.movements(part: nil) {
            if m.kind == .consume && m.at >= since { consumed[m.part, default: 0] += m.quantity }
            if let t = m.ticketID, m.from != nil, m.kind == .reserve || m.kind == .release {
                reserved[t, default: [:]][m.part, default: 0] += m.kind == .reserve ? m.quantity : -m.quantity
            }
        }
        let recent = all.filter { $0.source == .predictive && !$0.drill && $0.openedAt >= now - .seconds(180 * 86_400) }
        var record: [String: (real: Int, total: Int)] = [:]
        for t in recent where t.status != .new && t.status != .acknowledged || t.status == .cancelled {
            let key = "\(t.detector ?? "")|\(t.profileID ?? "")"
            let falseAlarm = t.status == .cancelled && !(t.cancelReason ?? "").hasPrefix("merged into")
            record[key, default: (0, 0)].total += 1
            if !falseAlarm { record[key, default: (0, 0)].real += 1 }
        }
        return compute(parts: parts, stock: try repository.stock(), openTickets: open, profiles: profiles, consumed90: consumed, reservedFor: reserved,
                       realRate: { t in
                           let r = record["\(t.detector ?? "")|\(t.profileID ?? "")"] ?? (0, 0)
                           return Double(r.real + 1) / Double(r.total + 2)
                       }, now: now)
    }
}
