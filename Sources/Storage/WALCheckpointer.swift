import Foundation
import GRDB
import Synchronization

/// Copies the write-ahead log back into the database file on its own connection and thread,
/// so the desk's commits do not pay for it.
///
/// SQLite's automatic checkpoint runs inside whichever commit crosses 1,000 WAL pages; on
/// this machine that commit took 3.5 ms at p99 instead of 0.5 ms. Here the writer's automatic
/// threshold is raised to `fallbackPages` (a bound on the WAL if this thread falls behind or
/// fails), and a PASSIVE checkpoint runs on a separate connection every `interval` commits, or
/// at the first commit `pause` after the last one: it never blocks the writer, and copies what
/// it can. The time trigger matters for few, large writes (a series-history save of several
/// MB a minute), which would otherwise fill the WAL up to the backstop between checkpoints.
final class WALCheckpointer: Sendable {
    /// The writer's own automatic checkpoint, kept as a safety net: 4,000 pages (16 MB).
    static let fallbackPages = 4_000

    struct Counters: Sendable, Equatable {
        var checkpoints = 0
        var failures = 0
        var lastError: String?
    }

    private struct State {
        var commits = 0
        var running = false
        var last = ContinuousClock.now
        var counters = Counters()
    }

    private let connection: DatabaseQueue
    private let interval: Int
    private let pause: Duration
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "fieldwatch.wal-checkpoint", qos: .utility)

    init(path: String, interval: Int = 64, pause: Duration = .seconds(1)) throws {
        var config = Configuration()
        config.label = "fieldwatch.wal-checkpoint"
        // A PASSIVE checkpoint never waits; a short timeout covers opening the connection.
        config.busyMode = .timeout(1)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(WALCheckpointer.fallbackPages)")
        }
        connection = try DatabaseQueue(path: path, configuration: config)
        self.interval = max(1, interval)
        self.pause = pause
    }

    var counters: Counters { state.withLock { $0.counters } }

    /// Called after each committed write; starts a checkpoint after `interval` commits or
    /// `pause`, unless one is still running.
    func didCommit() {
        let now = ContinuousClock.now
        let start = state.withLock { s -> Bool in
            s.commits += 1
            guard s.commits >= interval || now - s.last >= pause, !s.running else { return false }
            s.commits = 0
            s.last = now
            s.running = true
            return true
        }
        if start { queue.async { [self] in run() } }
    }

    /// One PASSIVE checkpoint now, on the calling thread.
    func run() {
        let outcome = Result { try connection.writeWithoutTransaction { try $0.checkpoint(.passive) } }
        state.withLock { s in
            s.running = false
            switch outcome {
            case .success: s.counters.checkpoints += 1
            case let .failure(error):
                s.counters.failures += 1
                s.counters.lastError = "\(error)"
            }
        }
    }
}
