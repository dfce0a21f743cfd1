import FieldwatchCore

/// Sensor health: readings outside the sensor's physical range are refused one by one (each is
/// counted and dead-lettered), but a sensor that keeps sending them is broken, saturated or
/// miswired, and someone has to go and look. It raises after `raiseAfter` such readings in a
/// row and clears after as many valid ones in a row. Pure: no I/O, no clock.
public struct RangeHealthDetector: Sendable, Codable {
    public static let name = "range-health"
    public static let version = 1

    public let raiseAfter: Int
    public private(set) var active = false
    private var outside = 0
    private var inside = 0
    private var since: Timestamp?

    public init(raiseAfter: Int = 3) {
        self.raiseAfter = max(raiseAfter, 1)
    }

    /// Feeds one reading and whether it lay within the physical range; `limit` is the bound it
    /// crossed (or, for a clear, the bound it is back within).
    public mutating func observe(_ sample: Sample, inRange: Bool, limit: Double) -> DetectorEvent? {
        if inRange {
            outside = 0
            since = nil
            guard active else { return nil }
            inside += 1
            guard inside >= raiseAfter else { return nil }
            active = false
            inside = 0
            return DetectorEvent(transition: .cleared, severity: .warning, at: sample.timestamp, since: sample.timestamp, value: sample.value, limit: limit)
        }
        inside = 0
        outside += 1
        let start = since ?? sample.timestamp
        since = start
        guard !active, outside >= raiseAfter else { return nil }
        active = true
        return DetectorEvent(transition: .raised, severity: .warning, at: sample.timestamp, since: start, value: sample.value, limit: limit)
    }
}
