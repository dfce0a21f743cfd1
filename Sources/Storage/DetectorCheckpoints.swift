import FieldwatchCore
import Foundation
import GRDB

extension TicketStore {
    /// Replaces the saved detector state (one row) in one transaction: the previous checkpoint
    /// stays whole until the new one is committed.
    public func saveDetectorCheckpoint(_ state: Data, at savedAt: Timestamp) async throws(StorageError) {
        try await write { tx in
            try tx.db.execute(sql: """
                INSERT INTO detector_checkpoint (id, saved_at, state) VALUES (1, ?, ?)
                ON CONFLICT (id) DO UPDATE SET saved_at = excluded.saved_at, state = excluded.state
                """, arguments: [savedAt.milliseconds, state])
        }
    }

    /// The saved detector state and when it was saved; nil when none was ever saved.
    public func detectorCheckpoint() throws(StorageError) -> (state: Data, savedAt: Timestamp)? {
        try read("read the detector checkpoint") { db in
            try Row.fetchOne(db, sql: "SELECT saved_at, state FROM detector_checkpoint WHERE id = 1").map {
                ($0["state"], Timestamp(milliseconds: $0["saved_at"]))
            }
        }
    }
}
