import FieldwatchCore
import FieldwatchTesting
import Foundation
import GRDB
import Testing
@testable import Storage

@Suite("Series history in SQLite")
struct SeriesHistoryStoreTests {
    static let pump = SeriesKey(device: "pump-1", sensor: "bearing_temp")
    static func id(_ start: Int64) -> SeriesBlockID { SeriesBlockID(series: pump, start: Timestamp(milliseconds: start)) }
    static func block(_ start: Int64) -> SavedSeriesBlock { SavedSeriesBlock(id: id(start), data: Data([UInt8(start % 256), 0, 255])) }

    @Test func sealedBlocksAreWrittenOnceAndDeletedWhenDropped() async throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("fieldwatch.db").path
        // Every byte value, so nothing is lost to a text conversion.
        let recent = Data((0...255).map(UInt8.init))
        do {
            let store = try TicketStore(path: path)
            #expect(try store.seriesHistory() == nil)
            try await store.saveSeriesHistory(recent: Data([1]), at: Timestamp(milliseconds: 1_000), adding: [Self.block(100), Self.block(200)], removing: [])
            try await store.saveSeriesHistory(recent: recent, at: Timestamp(milliseconds: 2_000), adding: [Self.block(300)], removing: [Self.id(100)])
        }
        let reopened = try TicketStore(path: path)
        let saved = try #require(try reopened.seriesHistory())
        #expect(saved.recent == recent && saved.savedAt == Timestamp(milliseconds: 2_000))
        #expect(saved.blocks == [Self.block(200), Self.block(300)], "oldest first")
        #expect(try reopened.savedSeriesBlockIDs() == [Self.id(200), Self.id(300)])
    }

    @Test func aFailedSaveLeavesThePreviousOneWhole() async throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("fieldwatch.db").path
        let store = try TicketStore(path: path)
        try await store.saveSeriesHistory(recent: Data([1]), at: Timestamp(milliseconds: 1_000), adding: [Self.block(100)], removing: [])
        // A block without a device breaks a CHECK half-way through the transaction.
        let bad = SavedSeriesBlock(id: SeriesBlockID(series: SeriesKey(device: "", sensor: "x"), start: Timestamp(milliseconds: 5)), data: Data([0]))
        await #expect(throws: StorageError.self) {
            try await store.saveSeriesHistory(recent: Data([2]), at: Timestamp(milliseconds: 2_000), adding: [Self.block(200), bad], removing: [Self.id(100)])
        }
        let saved = try #require(try store.seriesHistory())
        #expect(saved.recent == Data([1]) && saved.blocks == [Self.block(100)])
        #expect(throws: DatabaseError.self) {
            try DatabaseQueue(path: path).write { db in
                try db.execute(sql: "INSERT INTO series_recent (id, saved_at, state) VALUES (2, 0, x'00')")
            }
        }
    }
}
