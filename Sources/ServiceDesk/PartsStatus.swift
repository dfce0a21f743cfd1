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
    /// Demand expected over the part's lead time: not computed yet (null, not zero).
    public var predicted_demand: Double?
    /// For now the part's safety stock.
    public var reorder_point: Int
    public var warnings: [String]

    /// Rows per part and location, with warnings: none left at a location; the part's
    /// available stock company-wide below its safety stock.
    public static func compute(parts: [Part], stock: [StockLevel]) -> [PartsStatus] {
        let catalogue = Dictionary(parts.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
        let available = Dictionary(grouping: stock, by: \.part).mapValues { $0.reduce(0) { $0 + $1.available } }
        return stock.compactMap { s -> PartsStatus? in
            guard let part = catalogue[s.part] else { return nil }
            var warnings: [String] = []
            if s.available <= 0 { warnings.append("none available here") }
            let total = available[s.part] ?? 0
            if total < part.safetyStock {
                warnings.append("\(total) available company-wide, below the safety stock of \(part.safetyStock) (lead time \(String(format: "%g", part.leadTimeDays)) d)")
            }
            return PartsStatus(part: s.part, location: s.location, kind: s.kind.rawValue, on_hand: s.onHand, reserved: s.reserved, available: s.available,
                               predicted_demand: nil, reorder_point: part.safetyStock, warnings: warnings)
        }
    }
}
