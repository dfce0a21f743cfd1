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

    /// A series: its ring and what the ring let go of. One table entry, so an append hashes
    /// its key once (a `SeriesKey` is two strings; three lookups had cost two thirds of the
    /// append rate with the history on).
    private struct Entry {
        var ring: RingBuffer
        var history: CompressedHistory?
    }

    private struct State: ~Copyable {
        var series: [SeriesKey: Entry] = [:]
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
            let outcome = Self.append(sample, to: &state.series[key, default: Entry(ring: RingBuffer(
                capacity: configuration.capacity, lateTolerance: configuration.lateTolerance
            ))], configuration)
            switch outcome {
            case .appended: state.counters.appended += 1
            case .insertedLate: state.counters.insertedLate += 1
            case .tooLate: state.counters.droppedTooLate += 1
            }
            return outcome
        }
    }

    /// The ring's append, handing what it evicts to the history when one is kept.
    private static func append(_ sample: Sample, to entry: inout Entry, _ configuration: Configuration) -> RingBuffer.AppendOutcome {
        let evicted = configuration.historyBytes > 0 && entry.ring.isFull ? entry.ring.oldest : nil
        let outcome = entry.ring.append(sample)
        if let evicted, outcome != .tooLate {
            if entry.history == nil {
                entry.history = CompressedHistory(blockDuration: configuration.historyBlock, budget: configuration.historyBytes)
            }
            entry.history?.append(evicted)
        }
        return outcome
    }

    public func latest(_ key: SeriesKey) -> Sample? {
        state.withLock { $0.series[key]?.ring.latest }
    }

    /// Samples of `[from, to]`, oldest first: from the compressed history (when kept) and the ring.
    /// Only the series' entry is copied under the lock (copy-on-write: no sample is copied
    /// there); reading and decompressing happen after it is released, so a wide query never
    /// holds up the appends of ingest. (The next append to that ring copies it once.)
    public func range(_ key: SeriesKey, from: Timestamp, to: Timestamp) -> [Sample] {
        guard let entry = state.withLock({ $0.series[key] }) else { return [] }
        let recent = entry.ring.range(from: from, to: to)
        guard let history = entry.history, let oldest = entry.ring.oldest, from < oldest.timestamp else { return recent }
        return history.range(from: from, to: min(to, oldest.timestamp - .milliseconds(1))) + recent
    }

    /// Bytes of compressed history held across all series.
    public var historyBytesInUse: Int { state.withLock { $0.series.values.reduce(0) { $0 + ($1.history?.byteCount ?? 0) } } }

    public func stats(_ key: SeriesKey, from: Timestamp, to: Timestamp) -> WindowStats {
        state.withLock { $0.series[key]?.ring.stats(from: from, to: to) ?? WindowStats() }
    }

    public var keys: [SeriesKey] { state.withLock { Array($0.series.keys) } }
    public var seriesCount: Int { state.withLock { $0.series.count } }
    public var counters: Counters { state.withLock { $0.counters } }

    /// Memory held by sample storage, in bytes (fixed per series; does not grow with uptime).
    public var bytesInUse: Int {
        seriesCount * RingBuffer.bytesPerSeries(capacity: configuration.capacity)
    }

    // MARK: - Saving and restoring

    /// Every series' ring and history, to be saved. Under the lock only the tables are copied
    /// (copy-on-write: no sample is copied there); the rings are read out after it is released.
    /// The price falls on ingest instead: the first append to each ring after a snapshot
    /// copies that ring once (4 KiB at 256 samples), which is cheaper than holding every
    /// append while thousands of rings are read.
    public func snapshot() -> SeriesSnapshot {
        let entries = state.withLock { $0.series }
        var snapshot = SeriesSnapshot()
        snapshot.series.reserveCapacity(entries.count)
        for (key, entry) in entries where !entry.ring.isEmpty {
            let h = entry.history
            snapshot.series[key] = .init(sealed: h?.sealedBlocks ?? [], open: h?.openBlock, ring: entry.ring.samples)
        }
        return snapshot
    }

    /// What `restore(_:keeping:)` put back and what it left out.
    public struct RestoreReport: Sendable, Equatable {
        /// Series put back.
        public var series = 0
        /// Samples put back, rings and history.
        public var samples = 0
        /// Saved series `keeping` refused (a device or sensor no longer in the inventory).
        public var unknownSeries = 0
        /// Saved samples of restored series beyond today's `capacity` and `historyBytes`.
        public var trimmedSamples = 0
        /// Saved ring samples dated after `notAfter` (a device clock that was ahead): left out,
        /// or they would make every correct sample after the restart look too late.
        public var futureSamples = 0

        public init(series: Int = 0, samples: Int = 0, unknownSeries: Int = 0, trimmedSamples: Int = 0) {
            self.series = series
            self.samples = samples
            self.unknownSeries = unknownSeries
            self.trimmedSamples = trimmedSamples
        }
    }

    /// Puts saved series in place of the current ones, fitted to this store's configuration,
    /// which may differ from the one they were saved under: a smaller ring passes its oldest
    /// samples to the history (or drops them when none is kept), a smaller history budget drops
    /// its oldest blocks. Meant for start-up, before samples flow; the counters are untouched.
    @discardableResult
    public func restore(_ snapshot: SeriesSnapshot, keeping: (SeriesKey) -> Bool = { _ in true }, notAfter: Timestamp? = nil) -> RestoreReport {
        let configuration = configuration
        var report = RestoreReport()
        var entries: [SeriesKey: Entry] = [:]
        for (key, saved) in snapshot.series {
            guard keeping(key) else {
                report.unknownSeries += 1
                continue
            }
            guard !saved.ring.isEmpty else { continue }
            var history: CompressedHistory?
            if configuration.historyBytes > 0, saved.open != nil || !saved.sealed.isEmpty || saved.ring.count > configuration.capacity {
                history = CompressedHistory(blockDuration: configuration.historyBlock, budget: configuration.historyBytes,
                                            sealed: saved.sealed, open: saved.open)
            }
            var ring = RingBuffer(capacity: configuration.capacity, lateTolerance: configuration.lateTolerance)
            var future = 0
            for sample in saved.ring {
                if let notAfter, sample.timestamp > notAfter {
                    future += 1
                    continue
                }
                if ring.isFull, let oldest = ring.oldest { history?.append(oldest) }
                ring.append(sample)
            }
            let kept = ring.count + (history?.count ?? 0)
            report.series += 1
            report.samples += kept
            report.futureSamples += future
            report.trimmedSamples += saved.sampleCount - kept - future
            entries[key] = Entry(ring: ring, history: history)
        }
        state.withLock { $0.series = entries }
        return report
    }
}
