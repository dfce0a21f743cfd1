import FieldwatchCore

/// One bucket of a rollup: the samples whose time falls in [start, start + width).
public struct RollupBucket: Sendable, Equatable {
    public var start: Timestamp
    public var count: Int
    public var min: Double
    public var max: Double
    public var mean: Double
}

public enum Rollup {
    /// Rolls samples up into buckets of `width` milliseconds aligned on `origin`, in time order;
    /// empty buckets are left out. One pass, no grouping dictionary: the samples of a range
    /// query come in time order, and a sample out of order still lands in its own bucket.
    public static func buckets(_ samples: [Sample], origin: Timestamp, widthMilliseconds width: Int64) -> [RollupBucket] {
        precondition(width > 0, "a rollup bucket must be at least 1 ms wide")
        var byIndex: [Int64: (count: Int, min: Double, max: Double, sum: Double)] = [:]
        var order: [Int64] = []
        for s in samples {
            let offset = s.timestamp.milliseconds - origin.milliseconds
            let index = offset >= 0 ? offset / width : -((width - 1 - offset) / width)
            if let b = byIndex[index] {
                byIndex[index] = (b.count + 1, Swift.min(b.min, s.value), Swift.max(b.max, s.value), b.sum + s.value)
            } else {
                byIndex[index] = (1, s.value, s.value, s.value)
                order.append(index)
            }
        }
        return order.sorted().map { index in
            let b = byIndex[index]!
            return RollupBucket(start: Timestamp(milliseconds: origin.milliseconds + index * width), count: b.count, min: b.min, max: b.max,
                                mean: b.sum / Double(b.count))
        }
    }
}
