import Detection
import FieldwatchCore
import Foundation
import Ingest
import Logging
import ServiceDesk
import ServiceLifecycle
import Storage
import Synchronization

/// Saves the detectors' state to the store every `interval` and once more on graceful
/// shutdown, so a restart resumes duration timers, flatline runs and fitted trends instead of
/// re-learning them.
///
/// In the service group it sits just before ingest: services stop in reverse order, so ingest
/// has stopped and drained before the final save, which therefore holds every sample. A save
/// waits until the ticket desk has committed every detection the saved detectors fired, so a
/// restored detector that believes it raised always finds that detection stored (the desk
/// stops after this service). A failed save is logged and tried again at the next interval; it
/// never stops the gateway, and the previous checkpoint stays until a new one is committed.
public final class DetectorCheckpointService: Service, Sendable {
    public struct Counters: Sendable, Equatable {
        /// Checkpoints committed to the store.
        public var saved = 0
        /// Saves that failed or were put off (the desk had not caught up); each is retried at the next interval.
        public var failures = 0
        /// Snapshot, encoding, waiting for the desk and the write, of the last checkpoint saved.
        public var lastDuration: Duration?
        /// Size of the last checkpoint saved.
        public var lastBytes: Int?
        /// When the last checkpoint was saved (gateway clock).
        public var lastSavedAt: Timestamp?
    }

    public let interval: Duration
    private let pipeline: IngestPipeline
    private let desk: TicketDesk
    private let store: TicketStore
    private let commitWait: Duration
    private let logger: Logger
    private let now: @Sendable () -> Timestamp
    private let state = Mutex(Counters())
    /// Saved right after each detector checkpoint, in a transaction of its own; nil: not saved.
    public let series: SeriesCheckpoints?
    /// Run-hours counters recorded right after the series, at the same interval; nil: not recorded.
    public let operatingHours: OperatingHoursRecorder?

    /// `commitWait` bounds how long a save waits for the desk to commit the detections the
    /// snapshot reflects; past it the save is put off to the next interval.
    public init(pipeline: IngestPipeline, desk: TicketDesk, store: TicketStore, interval: Duration = .seconds(60),
                commitWait: Duration = .seconds(30), series: SeriesCheckpoints? = nil, operatingHours: OperatingHoursRecorder? = nil, logger: Logger = Logger(label: "fieldwatch.checkpoint"),
                now: @escaping @Sendable () -> Timestamp = { Timestamp.now() }) {
        self.pipeline = pipeline
        self.desk = desk
        self.store = store
        self.interval = interval
        self.commitWait = commitWait
        self.series = series
        self.operatingHours = operatingHours
        self.logger = logger
        self.now = now
    }

    public var counters: Counters { state.withLock { $0 } }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown { [self] in
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await save()
                await series?.save()
                operatingHours?.save()
            }
        }
        // Ingest, after this service in the group, has stopped: this checkpoint holds every sample.
        if await save() {
            logger.info("detector state saved on shutdown (\(counters.lastBytes ?? 0) bytes)")
        }
        if let series, await series.save() {
            logger.info("series history saved on shutdown (\(series.counters.lastBytes ?? 0) bytes written)")
        }
        operatingHours?.save()
    }

    /// Takes a checkpoint and commits it; false (logged, counted) when it could not.
    @discardableResult
    public func save() async -> Bool {
        let clock = ContinuousClock()
        let started = clock.now
        do {
            let data = try pipeline.detectorCheckpoint()
            guard try await deskHasCommittedEverythingSubmitted() else {
                state.withLock { $0.failures += 1 }
                logger.warning("detector checkpoint put off: the ticket desk has not committed its queued detections within \(commitWait); the previous checkpoint stays, next try in \(interval)")
                return false
            }
            let savedAt = now()
            try await store.saveDetectorCheckpoint(data, at: savedAt)
            let elapsed = clock.now - started
            state.withLock {
                $0.saved += 1
                $0.lastDuration = elapsed
                $0.lastBytes = data.count
                $0.lastSavedAt = savedAt
            }
            logger.debug("detector checkpoint saved: \(data.count) bytes in \(elapsed)")
            return true
        } catch {
            // Interrupted by shutdown: the final save follows, nothing to report.
            if Task.isCancelled { return false }
            state.withLock { $0.failures += 1 }
            logger.warning("cannot save the detector checkpoint, next try in \(interval): \(error)")
            return false
        }
    }

    /// Waits until the desk has committed every anomaly submitted so far (the snapshot was
    /// taken before, and ingest hands a detector's events over before releasing the detectors),
    /// or `commitWait` has passed.
    private func deskHasCommittedEverythingSubmitted() async throws -> Bool {
        let target = desk.counters.submitted
        let clock = ContinuousClock()
        let deadline = clock.now + commitWait
        while desk.counters.committed < target {
            if clock.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
        return true
    }
}

extension Gateway {
    /// Loads the saved detector state into the pipeline and says what happened in one log line.
    /// Never fails start-up: an unreadable checkpoint only means the detectors start fresh.
    static func restoreDetectors(into pipeline: IngestPipeline, from store: TicketStore, logger: Logger) -> DetectionEngine.RestoreReport? {
        let saved: (state: Data, savedAt: Timestamp)?
        do {
            saved = try store.detectorCheckpoint()
        } catch {
            logger.warning("cannot read the detector checkpoint (\(error)); every detector starts from fresh state")
            return nil
        }
        guard let saved else {
            logger.info("no saved detector state: every detector starts fresh")
            return nil
        }
        do {
            let r = try pipeline.restoreDetectors(from: saved.state)
            logger.info("restored detector state of \(r.restored) detectors saved at \(saved.savedAt.rfc3339); \(r.discarded) discarded because their profile changed; \(r.unknownSeries) series no longer exist")
            return r
        } catch {
            logger.warning("\(error) (checkpoint of \(saved.state.count) bytes saved at \(saved.savedAt.rfc3339))")
            return nil
        }
    }
}
