/// A fixed-bucket histogram of delays, in the Prometheus bucket layout: a count per upper
/// bound plus the sum, so a scrape can render it and anyone can read a rough percentile
/// from it. Recording is O(buckets) with no allocation; the bounds span 1 ms to 10 s.
public struct DelayHistogram: Sendable, Equatable {
    /// Upper bounds in seconds, ascending; a last, implicit bucket is +Inf.
    public static let bounds: [Double] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// Observations per bucket (not cumulative); one more entry than `bounds`, for +Inf.
    public private(set) var counts = [Int](repeating: 0, count: DelayHistogram.bounds.count + 1)
    public private(set) var sum: Double = 0
    public private(set) var count = 0

    public init() {}

    public mutating func record(seconds: Double) {
        let value = seconds.isFinite ? max(0, seconds) : 0
        let bucket = Self.bounds.firstIndex { value <= $0 } ?? Self.bounds.count
        counts[bucket] += 1
        sum += value
        count += 1
    }

    public mutating func record(_ delay: Duration) {
        record(seconds: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
    }

    /// The upper bound of the bucket holding the `q`-quantile (+Inf past the last bound), or
    /// nil with nothing recorded: "p99 ≤ 5 ms" reads as "99 % of delays were at most 5 ms".
    public func quantileUpperBound(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (i, n) in counts.enumerated() {
            seen += n
            if seen >= rank { return i < Self.bounds.count ? Self.bounds[i] : .infinity }
        }
        return .infinity
    }

    /// Cumulative counts per bound, then +Inf: the `_bucket{le=…}` series.
    public var cumulative: [(upperBound: Double, count: Int)] {
        var running = 0
        return counts.enumerated().map { i, n in
            running += n
            return (i < Self.bounds.count ? Self.bounds[i] : .infinity, running)
        }
    }
}
