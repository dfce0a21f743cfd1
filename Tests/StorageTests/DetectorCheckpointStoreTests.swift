import FieldwatchCore
import FieldwatchTesting
import Foundation
import GRDB
import Testing
@testable import Storage

@Suite("Detector checkpoints in SQLite")
struct DetectorCheckpointStoreTests {
    @Test func theLatestCheckpointSurvivesReopeningTheFile() async throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("fieldwatch.db").path
        let first = Data(#"{"format":1,"series":[]}"#.utf8)
        // Every byte value, so nothing is lost to a text conversion.
        let second = Data((0...255).map(UInt8.init) + Array(#"{"format":1}"#.utf8))
        do {
            let store = try TicketStore(path: path)
            #expect(try store.detectorCheckpoint() == nil)
            try await store.saveDetectorCheckpoint(first, at: Timestamp(milliseconds: 1_000))
            try await store.saveDetectorCheckpoint(second, at: Timestamp(milliseconds: 2_000))
        }
        let reopened = try TicketStore(path: path)
        let saved = try #require(try reopened.detectorCheckpoint())
        #expect(saved.state == second)
        #expect(saved.savedAt == Timestamp(milliseconds: 2_000))
        // One row, replaced in place.
        let rows = try await DatabaseQueue(path: path).read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM detector_checkpoint") }
        #expect(rows == 1)
    }

    @Test func theTableHoldsOneRowOnly() throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("fieldwatch.db").path
        _ = try TicketStore(path: path)
        #expect(throws: DatabaseError.self) {
            try DatabaseQueue(path: path).write { db in
                try db.execute(sql: "INSERT INTO detector_checkpoint (id, saved_at, state) VALUES (2, 0, x'00')")
            }
        }
    }
}
