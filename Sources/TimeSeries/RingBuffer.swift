import FieldwatchCore

/// A fixed-capacity ring of samples of one series, kept in timestamp order.
///
/// The storage is allocated once, at `init`; `append(_:)` never allocates. When full, an append
/// overwrites the oldest sample. A sample that arrives late (older than the newest) but within
/// `lateTolerance` is inserted in order; anything older is refused and counted by the caller.
/// Memory: `capacity × 16` bytes of samples plus a fixed header (see `bytesPerSeries`).
public struct RingBuffer: Sendable {
    /// What `append(_:)` did with a sample.
    public enum AppendOutcome: Sendable, Equatable {
        /// At the end, in order (the usual case).
        case appended
        /// Late but within tolerance: placed in timestamp order.
        case insertedLate
        /// Older than the tolerance allows, or older than everything a full ring holds: dropped.
        case tooLate
    }

    public let capacity: Int
    public let lateToleranceMilliseconds: Int64
    private var storage: [Sample]
    /// Physical index of the oldest sample.
    private var head = 0
    public private(set) var count = 0

    public init(capacity: Int, lateTolerance: Duration = .seconds(5)) {
        precondition(capacity > 0, "a ring buffer needs a capacity of at least one sample")
        self.capacity = capacity
        self.lateToleranceMilliseconds = lateTolerance.wholeMilliseconds
        self.storage = Array(repeating: Sample(timestamp: Timestamp(milliseconds: 0), value: 0), count: capacity)
    }

    /// Bytes one series occupies for a given capacity: the samples plus the array header and
    /// the ring's own fields. Stated in the README.
    public static func bytesPerSeries(capacity: Int) -> Int {
        capacity * MemoryLayout<Sample>.stride + 32 + MemoryLayout<RingBuffer>.stride
    }

    public var isEmpty: Bool { count == 0 }
    public var isFull: Bool { count == capacity }

    @inline(__always)
    private func physical(_ logical: Int) -> Int {
        let i = head + logical
        return i >= capacity ? i - capacity : i
    }

    /// The sample at logical position `i` (0 = oldest).
    public subscript(i: Int) -> Sample {
        precondition(i >= 0 && i < count, "ring index \(i) out of range 0..<\(count)")
        return storage[physical(i)]
    }

    public var oldest: Sample? { count == 0 ? nil : storage[head] }
    public var latest: Sample? { count == 0 ? nil : storage[physical(count - 1)] }

    /// Adds a sample in O(1) when it is in order; a late sample within tolerance costs a shift
    /// of the samples newer than it (bounded by how late it may be).
    @discardableResult
    public mutating func append(_ sample: Sample) -> AppendOutcome {
        guard let newest = latest, sample.timestamp < newest.timestamp else {
            pushBack(sample)
            return .appended
        }
        guard newest.timestamp.milliseconds - sample.timestamp.milliseconds <= lateToleranceMilliseconds else {
            return .tooLate
        }
        // Find the first logical position whose sample is newer than the late one.
        var position = count - 1
        while position > 0 && self[position - 1].timestamp > sample.timestamp { position -= 1 }
        if isFull {
            // The oldest is about to be overwritten; a sample older than it has no place.
            if position == 0 { return .tooLate }
            // Drop the oldest: its slot becomes the free slot past the end, and the insert
            // below shifts only the (few) samples newer than the late one.
            head = physical(1)
            count -= 1
            position -= 1
        }
        // Shift the newer part up by one, then write the sample at `position`.
        var i = count
        while i > position {
            storage[physical(i)] = storage[physical(i - 1)]
            i -= 1
        }
        storage[physical(position)] = sample
        count += 1
        return .insertedLate
    }

    @inline(__always)
    private mutating func pushBack(_ sample: Sample) {
        if count < capacity {
            storage[physical(count)] = sample
            count += 1
        } else {
            storage[head] = sample
            head = head + 1 == capacity ? 0 : head + 1
        }
    }

    /// The first logical index whose timestamp is ≥ `t` (binary search; samples are ordered).
    private func lowerBound(_ t: Timestamp) -> Int {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if self[mid].timestamp < t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Samples with `from ≤ timestamp ≤ to`, oldest first.
    public func range(from: Timestamp, to: Timestamp) -> [Sample] {
        guard from <= to else { return [] }
        var result: [Sample] = []
        var i = lowerBound(from)
        while i < count {
            let s = self[i]
            if s.timestamp > to { break }
            result.append(s)
            i += 1
        }
        return result
    }

    /// The newest `n` samples (fewer if the ring holds fewer), oldest first.
    public func suffix(_ n: Int) -> [Sample] {
        let k = Swift.max(0, Swift.min(n, count))
        return (count - k..<count).map { self[$0] }
    }

    /// All samples, oldest first.
    public var samples: [Sample] { suffix(count) }

    /// Count, min, max, mean and standard deviation of the samples in `[from, to]`.
    public func stats(from: Timestamp, to: Timestamp) -> WindowStats {
        var stats = WindowStats()
        guard from <= to else { return stats }
        var i = lowerBound(from)
        while i < count {
            let s = self[i]
            if s.timestamp > to { break }
            stats.add(s.value)
            i += 1
        }
        return stats
    }
}

// MARK: - Checkpoints

/// A ring is saved as its capacity, late tolerance and samples (oldest first, as parallel
/// arrays of timestamps and values, which take a quarter fewer bytes than an object per sample
/// and encode faster), not as its physical layout: a decoded ring is rebuilt by appending, so a damaged
/// checkpoint cannot break the invariants (`count <= capacity`, timestamps in order) that
/// indexing relies on.
extension RingBuffer: Codable {
    /// The largest capacity a decoded ring may ask for (256 MiB of samples): a damaged
    /// checkpoint must fail to decode, not exhaust memory.
    public static let largestDecodedCapacity = 1 << 24

    enum CodingKeys: String, CodingKey {
        case capacity
        case lateToleranceMs
        case timestamps
        case values
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let capacity = try c.decode(Int.self, forKey: .capacity)
        guard (1...Self.largestDecodedCapacity).contains(capacity) else {
            throw DecodingError.dataCorruptedError(forKey: .capacity, in: c, debugDescription: "ring capacity \(capacity) is outside 1...\(Self.largestDecodedCapacity)")
        }
        let lateToleranceMs = try c.decode(Int64.self, forKey: .lateToleranceMs)
        guard lateToleranceMs >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .lateToleranceMs, in: c, debugDescription: "late tolerance \(lateToleranceMs) ms is negative")
        }
        let timestamps = try c.decode([Int64].self, forKey: .timestamps)
        let values = try c.decode([Double].self, forKey: .values)
        guard timestamps.count == values.count else {
            throw DecodingError.dataCorruptedError(forKey: .values, in: c, debugDescription: "\(timestamps.count) timestamps but \(values.count) values")
        }
        guard timestamps.count <= capacity else {
            throw DecodingError.dataCorruptedError(forKey: .timestamps, in: c, debugDescription: "\(timestamps.count) samples do not fit a ring of \(capacity)")
        }
        guard zip(timestamps, timestamps.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw DecodingError.dataCorruptedError(forKey: .timestamps, in: c, debugDescription: "samples are not in timestamp order")
        }
        self.init(capacity: capacity, lateTolerance: .milliseconds(lateToleranceMs))
        for (t, value) in zip(timestamps, values) { pushBack(Sample(timestamp: Timestamp(milliseconds: t), value: value)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(capacity, forKey: .capacity)
        try c.encode(lateToleranceMilliseconds, forKey: .lateToleranceMs)
        let samples = self.samples
        try c.encode(samples.map(\.timestamp.milliseconds), forKey: .timestamps)
        try c.encode(samples.map(\.value), forKey: .values)
    }
}

/// Summary statistics of a window, accumulated in one pass (Welford's algorithm, which stays
/// accurate when the values are large and the spread small).
public struct WindowStats: Sendable, Equatable {
    public private(set) var count = 0
    public private(set) var min = Double.infinity
    public private(set) var max = -Double.infinity
    public private(set) var mean = 0.0
    private var m2 = 0.0

    public init() {}

    public mutating func add(_ x: Double) {
        count += 1
        let delta = x - mean
        mean += delta / Double(count)
        m2 += delta * (x - mean)
        if x < min { min = x }
        if x > max { max = x }
    }

    /// Population standard deviation (0 for fewer than two samples).
    public var standardDeviation: Double { count < 2 ? 0 : (m2 / Double(count)).squareRoot() }
}
