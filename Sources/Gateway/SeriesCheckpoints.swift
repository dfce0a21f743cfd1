import FieldwatchCore
import Foundation
import Logging
import Storage
import Synchronization
import TimeSeries

/// Saves the series store — every ring and the compressed history behind it — so a restart
/// keeps days of device charts and ticket evidence instead of starting them from nothing.
///
/// Saved by `DetectorCheckpointService` right after each detector checkpoint (every
/// `checkpoint_interval` and once more on a graceful stop, after ingest has drained), in a
/// transaction of its own: series history needs no wait for the ticket desk, and neither save
/// failing holds up the other. A `kill -9` loses at most one interval of samples.
///
/// Sealed history blocks never change, so each is written once and deleted when the budget
/// drops it; only the rings and the blocks being filled are rewritten at every save. Rewriting
/// everything each time would be simpler, but with `history_kib: 64` a series holds about
/// 64 KiB of history against half a KiB of compressed ring: a whole-snapshot row would
/// rewrite over a hundred times what changed, every minute, on a gateway's flash storage.
public final class SeriesCheckpoints: Sendable {
    public struct Counters: Sendable, Equatable {
        /// Saves committed to the store.
        public var saved = 0
        /// Saves that failed (each is retried at the next interval; the previous save stays).
        public var failures = 0
        /// Snapshot, compression and write of the last save.
        public var lastDuration: Duration?
        /// Bytes the last save wrote: the recent part plus the sealed blocks it added.
        public var lastBytes: Int?
        /// Sealed blocks the last save added and deleted.
        public var lastBlocksAdded = 0
        public var lastBlocksRemoved = 0
        /// When the last save was committed (gateway clock).
        public var lastSavedAt: Timestamp?
    }

    private struct State {
        var counters = Counters()
        /// The sealed blocks in the database as of the last save or the restore; nil until
        /// known (the first save then lists them).
        var savedBlocks: Set<SeriesBlockID>?
    }

    private let series: SeriesStore
    private let store: TicketStore
    private let logger: Logger
    private let now: @Sendable () -> Timestamp
    private let state = Mutex(State())

    public init(series: SeriesStore, store: TicketStore, logger: Logger = Logger(label: "fieldwatch.checkpoint"),
                now: @escaping @Sendable () -> Timestamp = { Timestamp.now() }) {
        self.series = series
        self.store = store
        self.logger = logger
        self.now = now
    }

    public var counters: Counters { state.withLock { $0.counters } }

    /// Saves the series store; false (logged, counted) when it could not.
    @discardableResult
    public func save() async -> Bool {
        let clock = ContinuousClock()
        let started = clock.now
        do {
            let snapshot = series.snapshot()
            let recent = Data(snapshot.encodedRecent())
            var sealed: [SeriesBlockID: GorillaBlock] = [:]
            for (key, saved) in snapshot.series {
                for block in saved.sealed {
                    if let first = block.first { sealed[SeriesBlockID(series: key, start: first)] = block }
                }
            }
            let known: Set<SeriesBlockID>
            if let savedBlocks = state.withLock({ $0.savedBlocks }) {
                known = savedBlocks
            } else {
                known = try store.savedSeriesBlockIDs()
            }
            let adding = sealed.filter { !known.contains($0.key) }.map { SavedSeriesBlock(id: $0.key, data: Data($0.value.serialized)) }
            let removing = known.filter { sealed[$0] == nil }
            let savedAt = now()
            try await store.saveSeriesHistory(recent: recent, at: savedAt, adding: adding, removing: Array(removing))
            let elapsed = clock.now - started
            let bytes = adding.reduce(recent.count) { $0 + $1.data.count }
            state.withLock {
                $0.savedBlocks = Set(sealed.keys)
                $0.counters.saved += 1
                $0.counters.lastDuration = elapsed
                $0.counters.lastBytes = bytes
                $0.counters.lastBlocksAdded = adding.count
                $0.counters.lastBlocksRemoved = removing.count
                $0.counters.lastSavedAt = savedAt
            }
            logger.debug("series history saved: \(snapshot.series.count) series, \(bytes) bytes written (\(adding.count) blocks added, \(removing.count) deleted) in \(elapsed)")
            return true
        } catch {
            state.withLock { $0.counters.failures += 1 }
            logger.warning("cannot save the series history, next try at the next checkpoint: \(error)")
            return false
        }
    }

    /// `GorillaBlock(serialized:)` of each, in order, on all cores (start-up, nothing else runs).
    static func decodeConcurrently(_ blobs: [Data]) -> [Result<GorillaBlock, SeriesSnapshotError>] {
        let results = Mutex([Result<GorillaBlock, SeriesSnapshotError>?](repeating: nil, count: blobs.count))
        let chunk = 256
        DispatchQueue.concurrentPerform(iterations: (blobs.count + chunk - 1) / chunk) { c in
            let range = c * chunk..<min(blobs.count, (c + 1) * chunk)
            let part = range.map { i in Result { () throws(SeriesSnapshotError) in try GorillaBlock(serialized: blobs[i]) } }
            results.withLock { all in
                for (i, r) in zip(range, part) { all[i] = r }
            }
        }
        return results.withLock { $0.map { $0! } }
    }

    /// Puts the saved series back into the store, fitted to today's `ring_capacity` and
    /// `history_kib`, leaving out series `keeping` refuses (devices or sensors no longer in the
    /// inventory), and says what happened in one log line. Meant for start-up, before ingest.
    /// Never fails start-up: saved series that cannot be read only mean empty rings, and the
    /// next save replaces them.
    @discardableResult
    public func restore(keeping: (SeriesKey) -> Bool) -> SeriesStore.RestoreReport? {
        let saved: (recent: Data, savedAt: Timestamp, blocks: [SavedSeriesBlock])?
        do {
            saved = try store.seriesHistory()
        } catch {
            logger.warning("cannot read the saved series history (\(error)); the rings and history start empty")
            state.withLock { $0.savedBlocks = try? store.savedSeriesBlockIDs() }
            return nil
        }
        guard let saved else {
            logger.info("no saved series history: the rings and history start empty")
            // Blocks without a recent part are left over from nothing: the first save deletes them.
            state.withLock { $0.savedBlocks = try? store.savedSeriesBlockIDs() }
            return nil
        }
        // Whatever is adopted below, these are the blocks in the database: the next save
        // deletes those the store did not keep (unknown series, trimmed, unreadable).
        state.withLock { $0.savedBlocks = Set(saved.blocks.map(\.id)) }
        do throws(SeriesSnapshotError) {
            // Decoding every block (to check it) is most of a restore: spread it over the cores.
            let decoded = Self.decodeConcurrently(saved.blocks.map(\.data))
            var sealed: [SeriesKey: [GorillaBlock]] = [:]
            for (row, result) in zip(saved.blocks, decoded) {
                let block: GorillaBlock
                do throws(SeriesSnapshotError) {
                    block = try result.get()
                } catch {
                    throw SeriesSnapshotError("series \(row.id.series): the history block of \(row.id.start.rfc3339): \(error.problem)")
                }
                guard block.first == row.id.start else {
                    throw SeriesSnapshotError("series \(row.id.series): the history block saved as starting at \(row.id.start.rfc3339) starts at \(block.first?.rfc3339 ?? "nothing")")
                }
                sealed[row.id.series, default: []].append(block)
            }
            let snapshot = try SeriesSnapshot.decode(recent: saved.recent, sealed: sealed)
            let r = series.restore(snapshot, keeping: keeping, notAfter: now() + series.configuration.lateTolerance)
            logger.info("restored \(r.samples) samples of \(r.series) series saved at \(saved.savedAt.rfc3339); \(r.unknownSeries) series dropped because their device or sensor is no longer in the inventory; \(r.trimmedSamples) samples beyond ring_capacity and history_kib trimmed")
            if r.futureSamples > 0 {
                logger.warning("left out \(r.futureSamples) saved samples dated after the gateway's clock (a device clock was ahead); kept, they would make the correct samples that follow look too late")
            }
            return r
        } catch {
            logger.warning("cannot restore the saved series history: \(error) (\(saved.recent.count) bytes and \(saved.blocks.count) history blocks saved at \(saved.savedAt.rfc3339)); the rings and history start empty and the next save replaces it")
            return nil
        }
    }
}
