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

    /// History put back from saved blocks (closed ones oldest first, then the one being filled),
    /// kept within `budget` as `append` keeps it: the oldest closed blocks go first. A smaller
    /// budget than the one they were saved under trims them here.
    public init(blockDuration: Duration, budget: Int, sealed: [GorillaBlock], open: GorillaBlock?) {
        self.init(blockDuration: blockDuration, budget: budget)
        closed = sealed.filter { $0.count > 0 }
        closedBytes = closed.reduce(0) { $0 + $1.byteCount }
        self.open = open ?? GorillaBlock()
        dropOldestBeyondBudget()
    }

    /// The closed blocks, oldest first. They never change: a saver writes each once.
    public var sealedBlocks: [GorillaBlock] { closed }
    /// The block being filled; nil while it is empty.
    public var openBlock: GorillaBlock? { open.count > 0 ? open : nil }

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
            dropOldestBeyondBudget()
        }
        open.append(sample)
    }

    private mutating func dropOldestBeyondBudget() {
        var excess = 0
        while closedBytes > budget, excess < closed.count {
            closedBytes -= closed[excess].byteCount
            excess += 1
        }
        closed.removeFirst(excess)
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
