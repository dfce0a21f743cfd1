import FieldwatchCore

/// What a series' ring has already let go of, kept in Gorilla-compressed blocks: hours or days
/// of history in a fraction of the ring's 16 bytes a sample. Bounded: once the closed blocks
/// take more than `budget` bytes, the oldest block is dropped whole.
public struct CompressedHistory: Sendable {
    public let blockDuration: Duration
    public let budget: Int
    private var closed: [GorillaBlock] = []
    private var open = GorillaBlock()
    private var closedBytes = 0

    public init(blockDuration: Duration, budget: Int) {
        self.blockDuration = blockDuration
        self.budget = budget
    }

    /// Bytes held by every block, the open one included.
    public var byteCount: Int { closedBytes + open.byteCount }
    public var count: Int { closed.reduce(open.count) { $0 + $1.count } }
    /// The oldest sample still kept.
    public var oldest: Timestamp? { closed.first?.first ?? open.first }

    /// Appends a sample the ring evicted (they come oldest first).
    public mutating func append(_ sample: Sample) {
        if let first = open.first, sample.timestamp - first >= blockDuration {
            closedBytes += open.byteCount
            closed.append(open)
            open = GorillaBlock()
            while closedBytes > budget, let dropped = closed.first {
                closedBytes -= dropped.byteCount
                closed.removeFirst()
            }
        }
        open.append(sample)
    }

    /// Samples with `from ≤ timestamp ≤ to`, oldest first (only the blocks that overlap are decoded).
    public func range(from: Timestamp, to: Timestamp) -> [Sample] {
        guard from <= to else { return [] }
        var result: [Sample] = []
        for block in closed + [open] {
            guard let first = block.first, let last = block.last, last >= from, first <= to else { continue }
            result.append(contentsOf: block.samples.lazy.filter { $0.timestamp >= from && $0.timestamp <= to })
        }
        return result
    }
}
