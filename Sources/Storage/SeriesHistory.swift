import FieldwatchCore
import Foundation
import GRDB

/// One sealed history block of a series, as saved: identified by its series and first timestamp.
public struct SavedSeriesBlock: Sendable, Equatable {
    public var id: SeriesBlockID
    /// The block's bytes (`GorillaBlock.serialized`); the store does not look inside.
    public var data: Data

    public init(id: SeriesBlockID, data: Data) {
        self.id = id
        self.data = data
    }
}

/// Which saved block: a series and the first timestamp of the block.
public struct SeriesBlockID: Hashable, Sendable, Comparable {
    public var series: SeriesKey
    public var start: Timestamp

    public init(series: SeriesKey, start: Timestamp) {
        self.series = series
        self.start = start
    }

    public static func < (a: Self, b: Self) -> Bool {
        (a.series.device, a.series.sensor, a.start.milliseconds) < (b.series.device, b.series.sensor, b.start.milliseconds)
    }
}

extension TicketStore {
    /// Saves the series store's contents in one transaction: the recent part replaces the
    /// previous one, `adding` blocks are inserted and `removing` ones deleted. Everything saved
    /// before stays whole until this commits, so a crash mid-save restores the previous save.
    public func saveSeriesHistory(recent: Data, at savedAt: Timestamp, adding: [SavedSeriesBlock], removing: [SeriesBlockID]) async throws(StorageError) {
        try await write { tx in
            let db = tx.db
            try db.execute(sql: """
                INSERT INTO series_recent (id, saved_at, state) VALUES (1, ?, ?)
                ON CONFLICT (id) DO UPDATE SET saved_at = excluded.saved_at, state = excluded.state
                """, arguments: [savedAt.milliseconds, recent])
            let insert = try db.cachedStatement(sql: "INSERT OR REPLACE INTO series_block (device_id, sensor, start_ts, data) VALUES (?, ?, ?, ?)")
            for block in adding {
                try insert.execute(arguments: [block.id.series.device.rawValue, block.id.series.sensor.rawValue, block.id.start.milliseconds, block.data])
            }
            let delete = try db.cachedStatement(sql: "DELETE FROM series_block WHERE device_id = ? AND sensor = ? AND start_ts = ?")
            for id in removing {
                try delete.execute(arguments: [id.series.device.rawValue, id.series.sensor.rawValue, id.start.milliseconds])
            }
        }
    }

    /// The saved series: the recent part, when it was saved, and every sealed block (by series,
    /// oldest first). nil when nothing was ever saved.
    public func seriesHistory() throws(StorageError) -> (recent: Data, savedAt: Timestamp, blocks: [SavedSeriesBlock])? {
        try read("read the saved series history") { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT saved_at, state FROM series_recent WHERE id = 1") else { return nil }
            let blocks = try Row.fetchAll(db, sql: "SELECT device_id, sensor, start_ts, data FROM series_block ORDER BY device_id, sensor, start_ts").map {
                SavedSeriesBlock(id: SeriesBlockID(series: SeriesKey(device: DeviceID($0["device_id"]), sensor: SensorKey($0["sensor"])),
                                                   start: Timestamp(milliseconds: $0["start_ts"])),
                                 data: $0["data"])
            }
            return (row["state"], Timestamp(milliseconds: row["saved_at"]), blocks)
        }
    }

    /// Which sealed blocks are saved, without their bytes: what a saver compares the store's
    /// blocks with to write only the new ones and delete the dropped ones.
    public func savedSeriesBlockIDs() throws(StorageError) -> Set<SeriesBlockID> {
        try read("list the saved series history blocks") { db in
            Set(try Row.fetchAll(db, sql: "SELECT device_id, sensor, start_ts FROM series_block").map {
                SeriesBlockID(series: SeriesKey(device: DeviceID($0["device_id"]), sensor: SensorKey($0["sensor"])),
                              start: Timestamp(milliseconds: $0["start_ts"]))
            })
        }
    }
}
