/// A spare part of the catalogue.
public struct Part: Codable, Sendable, Equatable {
    /// Part number (`SKF-6309-2Z`), as profiles' fault catalogues name it.
    public var number: String
    public var name: String
    /// Cost of one unit, in the company's currency; what the cost report prices parts at.
    public var unitCost: Double
    public var supplier: String?
    /// Days from order to delivery.
    public var leadTimeDays: Double
    /// Units kept in hand at least, company-wide.
    public var safetyStock: Int

    public init(number: String, name: String, unitCost: Double, supplier: String? = nil, leadTimeDays: Double = 7, safetyStock: Int = 0) {
        self.number = number
        self.name = name
        self.unitCost = unitCost
        self.supplier = supplier
        self.leadTimeDays = leadTimeDays
        self.safetyStock = safetyStock
    }
}

/// Where parts are kept.
public enum StockLocationKind: String, Codable, Sendable, CaseIterable {
    case warehouse
    case servicePoint = "service_point"
    /// An engineer's van: the location's id is the engineer's id.
    case van
}

/// How many of a part a location holds, as a file states it or the store counts it.
public struct StockLevel: Codable, Sendable, Equatable {
    public var location: String
    public var kind: StockLocationKind
    public var part: String
    public var onHand: Int
    /// Set aside for assigned tickets (not available to others).
    public var reserved: Int
    public var available: Int { onHand - reserved }

    public init(location: String, kind: StockLocationKind, part: String, onHand: Int, reserved: Int = 0) {
        self.location = location
        self.kind = kind
        self.part = part
        self.onHand = onHand
        self.reserved = reserved
    }
}

/// The parts file: the catalogue and the counted stock.
public struct PartsCatalogue: Sendable, Equatable {
    public var parts: [Part]
    public var stock: [StockLevel]

    public init(parts: [Part], stock: [StockLevel]) {
        self.parts = parts
        self.stock = stock
    }
}
