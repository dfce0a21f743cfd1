import FieldwatchCore
import Foundation

/// One row of `fieldwatch parts status`: a part at a location.
public struct PartsStatus: Codable, Sendable, Equatable {
    public var part: String
    public var location: String
    public var kind: String
    public var on_hand: Int
    public var reserved: Int
    public var available: Int
    /// Demand expected company-wide over the part's lead time (`PartForecast`); nil without a forecast.
    public var predicted_demand: Double?
    /// Safety stock + predicted demand: below it, order.
    public var reorder_point: Double
    public var warnings: [String]

    /// Rows per part and location, with warnings: none left at a location; the part's
    /// available stock company-wide, less the demand expected over its lead time, below its
    /// safety stock (the zero-stock warning, before stock runs out).
    public static func compute(parts: [Part], stock: [StockLevel], forecast: [PartForecast] = []) -> [PartsStatus] {
        let forecasts = Dictionary(forecast.map { ($0.part, $0) }, uniquingKeysWith: { a, _ in a })
        let catalogue = Dictionary(parts.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
        let available = Dictionary(grouping: stock, by: \.part).mapValues { $0.reduce(0) { $0 + $1.available } }
        return stock.compactMap { s -> PartsStatus? in
            guard let part = catalogue[s.part] else { return nil }
            var warnings: [String] = []
            if s.available <= 0 { warnings.append(s.onHand > 0 ? "all \(s.onHand) reserved for assigned tickets" : "none here") }
            let total = available[s.part] ?? 0
            let f = forecasts[s.part]
            if let warning = f?.warning {
                warnings.append("low stock company-wide: \(warning)")
            } else if f == nil && total < part.safetyStock {
                warnings.append("\(total) available company-wide, below the safety stock of \(part.safetyStock) (lead time \(String(format: "%g", part.leadTimeDays)) d)")
            }
            return PartsStatus(part: s.part, location: s.location, kind: s.kind.rawValue, on_hand: s.onHand, reserved: s.reserved, available: s.available,
                               predicted_demand: f?.predicted_demand, reorder_point: f?.reorder_point ?? Double(part.safetyStock), warnings: warnings)
        }
    }
}

/// One order `fieldwatch parts replenish` proposes.
public struct ReplenishOrder: Codable, Sendable, Equatable {
    public var part: String
    /// The warehouse to deliver to (the one that holds the most of it).
    public var location: String
    public var quantity: Int
    public var why: String
    public var tickets: [Int64]
    public var vip: Bool

    public static func compute(_ forecast: [PartForecast], stock: [StockLevel]) -> [ReplenishOrder] {
        forecast.filter { $0.order > 0 }.map { f in
            let warehouse = stock.filter { $0.part == f.part && $0.kind == .warehouse }.max { $0.onHand < $1.onHand }?.location
                ?? stock.first { $0.kind == .warehouse }?.location ?? "the warehouse"
            return ReplenishOrder(part: f.part, location: warehouse, quantity: f.order, why: f.warning ?? "", tickets: f.needs.map(\.ticket),
                                  vip: f.needs.contains(where: \.vip))
        }
    }
}
