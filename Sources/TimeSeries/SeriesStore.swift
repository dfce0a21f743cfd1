import FieldwatchCore
import Synchronization

/// All live series of the gateway, one preallocated `RingBuffer` per (device, sensor).
///
/// A lock-protected final class rather than an actor: appends come from the synchronous ingest
/// path and must never suspend. Nothing is awaited while the lock is held.
public final class SeriesStore: Sendable {
    public struct Configuration: Sendable {
        /// Samples kept per series. Memory per series is `RingBuffer.bytesPerSeries(capacity:)`.
        public var capacity: Int
        /// How far behind the newest sample a late sample may arrive and still be placed in order.
        public var lateTolerance: Duration
        /// Bytes of compressed history kept per series behind its ring (0: none). Samples the
        /// ring lets go of are Gorilla-encoded in blocks of `historyBlock`.
        public var historyBytes: Int
        public var historyBlock: Duration

        public init(capacity: Int = 256, lateTolerance: Duration = .seconds(5), historyBytes: Int = 0, historyBlock: Duration = .seconds(7200)) {
            self.capacity = capacity
            self.lateTolerance = lateTolerance
            self.historyBytes = historyBytes
            self.historyBlock = historyBlock
        }
    }

    /// Counters of what the store did with the samples it was given.
    public struct Counters: Sendable, Equatable {
        public var appended = 0
        public var insertedLate = 0
        public var droppedTooLate = 0
        public init(appended: Int = 0, insertedLate: Int = 0, droppedTooLate: Int = 0) {
            self.appended = appended
            self.insertedLate = insertedLate
            self.droppedTooLate = droppedTooLate
        }
    }

    private struct State: ~Copyable {
        var series: [SeriesKey: RingBuffer] = [:]
        var history: [SeriesKey: CompressedHistory] = [:]
        var counters = Counters()
    }

    public let configuration: Configuration
    private let state = Mutex(State())

    public init(configuration: Configuration = .init()) {
        precondition(configuration.capacity > 0, "SeriesStore capacity must be positive")
        self.configuration = configuration
    }

    /// Appends a sample to its series, creating the series (and its storage) on first use.
    @discardableResult
    public func append(_ sample: Sample, to key: SeriesKey) -> RingBuffer.AppendOutcome {
        let configuration = configuration
        return state.withLock { state in
            var evicted: Sample?
            if configuration.historyBytes > 0, let ring = state.series[key], ring.isFull { evicted = ring.oldest }
            let outcome = state.series[key, default: RingBuffer(
                capacity: configuration.capacity, lateTolerance: configuration.lateTolerance
            )].append(sample)
            if let evicted, outcome != .tooLate {
                state.history[key, default: CompressedHistory(blockDuration: configuration.historyBlock, budget: configuration.historyBytes)]
                    .append(evicted)
            }
            switch outcome {
            case .appended: state.counters.appended += 1
            case .insertedLate: state.counters.insertedLate += 1
            case .tooLate: state.counters.droppedTooLate += 1
            }
            return outcome
        }
    }

    public func latest(_ key: SeriesKey) -> Sample? {
        state.withLock { $0.series[key]?.latest }
    }

    /// Samples of `[from, to]`, oldest first: from the compressed history (when kept) and the ring.
    public func range(_ key: SeriesKey, from: Timestamp, to: Timestamp) -> [Sample] {
        state.withLock { state in
            let recent = state.series[key]?.range(from: from, to: to) ?? []
            guard let history = state.history[key], let oldest = state.series[key]?.oldest, from < oldest.timestamp else { return recent }
            return history.range(from: from, to: min(to, oldest.timestamp - .milliseconds(1))) + recent
        }
    }

    /// Bytes of compressed history held across all series.
    public var historyBytesInUse: Int { state.withLock { $0.history.values.reduce(0) { $0 + $1.byteCount } } }

    public func stats(_ key: SeriesKey, from: Timestamp, to: Timestamp) -> WindowStats {
        state.withLock { $0.series[key]?.stats(from: from, to: to) ?? WindowStats() }
    }

    public var keys: [SeriesKey] { state.withLock { Array($0.series.keys) } }
    public var seriesCount: Int { state.withLock { $0.series.count } }
    public var counters: Counters { state.withLock { $0.counters } }

    /// Memory held by sample storage, in bytes (fixed per series; does not grow with uptime).
    public var bytesInUse: Int {
        seriesCount * RingBuffer.bytesPerSeries(capacity: configuration.capacity)
    }
}
