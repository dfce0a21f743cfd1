import FieldwatchCore
import Foundation
import GRDB

/// One reading of a device's operating-hours counter (a `counter` sensor in hours).
public struct CounterReading: Sendable, Equatable {
    public var device: DeviceID
    public var site: SiteID
    /// The device's profile (its equipment model) when read.
    public var profile: String
    public var sensor: SensorKey
    public var value: Double
    public var at: Timestamp

    public init(device: DeviceID, site: SiteID, profile: String, sensor: SensorKey, value: Double, at: Timestamp) {
        self.device = device
        self.site = site
        self.profile = profile
        self.sensor = sensor
        self.value = value
        self.at = at
    }
}

/// Operating hours one device ran in a period.
public struct OperatingHoursRow: Sendable, Equatable {
    public var device: DeviceID
    public var site: SiteID
    public var profile: String
    public var hours: Double

    public init(device: DeviceID, site: SiteID, profile: String, hours: Double) {
        self.device = device
        self.site = site
        self.profile = profile
        self.hours = hours
    }
}

/// How a counter moved between two readings.
public enum CounterStep: Sendable, Equatable {
    /// The first reading of the device: the baseline, nothing counted.
    case first
    /// Not newer than the stored reading (a replay or a late sample): ignored.
    case stale
    /// Ran `hours` since the stored reading.
    case counted(Double)
    /// The counter went backwards (controller replaced or reset): it counts from zero again,
    /// so its value, at most the time elapsed, is what ran since.
    case reset(counted: Double)
    /// More hours than the wall clock allows (a replaced device that arrived with hours on it,
    /// a misconfigured unit): not counted, the new value becomes the baseline.
    case jump(Double)

    /// One hour of slack on top of the elapsed time: counters that tick in whole hours, read
    /// every minute, move by 1 h within a minute.
    static let quantum = 1.0

    public static func between(previous: (value: Double, at: Timestamp)?, current: (value: Double, at: Timestamp)) -> CounterStep {
        guard let previous else { return .first }
        guard current.at > previous.at else { return .stale }
        let elapsed = Double(current.at.milliseconds - previous.at.milliseconds) / 3_600_000
        let delta = current.value - previous.value
        if delta < 0 { return .reset(counted: max(0, min(current.value, elapsed))) }
        if delta > elapsed * 1.05 + quantum { return .jump(delta) }
        return .counted(delta)
    }
}

/// What recording a batch of readings did.
public struct OperatingHoursUpdate: Sendable, Equatable {
    public var counted = 0.0
    public var baselines = 0
    public var stale = 0
    public var resets: [DeviceID] = []
    public var jumps: [DeviceID] = []
    public init() {}
}

/// Operating hours per device and hour, from the devices' run-hours counters: what MTBF on
/// operating hours is computed from. A small repository beside `TicketStore`.
public protocol OperatingHoursRepository: Sendable {
    /// Adds what each counter ran since its stored reading, spread over the hours between the
    /// two readings, and stores the reading as the new baseline, in one transaction. The
    /// baseline is stored, so a restart (or a `kill -9`) loses no hours: the next reading
    /// counts from the last one stored.
    func record(_ readings: [CounterReading]) throws(StorageError) -> OperatingHoursUpdate
    /// Hours each device ran in [from, to), by the hour (a period boundary inside an hour
    /// counts that hour in full on the side its start falls).
    func operatingHours(from: Timestamp, to: Timestamp) throws(StorageError) -> [OperatingHoursRow]
}

public final class SQLiteOperatingHoursStore: OperatingHoursRepository {
    let store: TicketStore

    public init(_ store: TicketStore) { self.store = store }

    /// Longest gap spread hour by hour; the hours of a longer gap go to the reading's hour.
    static let maxSpreadHours = 24 * 31

    public func record(_ readings: [CounterReading]) throws(StorageError) -> OperatingHoursUpdate {
        try store.writeSync { tx in try Self.record(readings, db: tx.db) }
    }

    static func record(_ readings: [CounterReading], db: Database) throws -> OperatingHoursUpdate {
        var update = OperatingHoursUpdate()
        for r in readings where r.value.isFinite {
            let stored = try Row.fetchOne(db, sql: "SELECT value, at FROM operating_counter WHERE device_id = ?", arguments: [r.device.rawValue])
            let previous = stored.map { (value: $0["value"] as Double, at: Timestamp(milliseconds: $0["at"])) }
            let step = CounterStep.between(previous: previous, current: (r.value, r.at))
            var hours = 0.0
            switch step {
            case .stale:
                update.stale += 1
                continue
            case .first: update.baselines += 1
            case .counted(let h): hours = h
            case .reset(let h):
                hours = h
                update.resets.append(r.device)
            case .jump:
                update.jumps.append(r.device)
            }
            if hours > 0, let previous {
                try add(hours, from: previous.at, to: r.at, of: r, db: db)
                update.counted += hours
            }
            let (resets, jumps) = if case .reset = step { (1, 0) } else if case .jump = step { (0, 1) } else { (0, 0) }
            try db.execute(sql: """
                INSERT INTO operating_counter (device_id, sensor, value, at, resets, jumps) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (device_id) DO UPDATE SET sensor = excluded.sensor, value = excluded.value, at = excluded.at,
                    resets = resets + excluded.resets, jumps = jumps + excluded.jumps
                """, arguments: [r.device.rawValue, r.sensor.rawValue, r.value, r.at.milliseconds, resets, jumps])
        }
        return update
    }

    /// Spreads `hours` evenly over the wall-clock time between two readings, hour bucket by bucket.
    static func add(_ hours: Double, from: Timestamp, to: Timestamp, of r: CounterReading, db: Database) throws {
        let hourMs: Int64 = 3_600_000
        func bucket(_ t: Timestamp) -> Int64 { Int64((Double(t.milliseconds) / Double(hourMs)).rounded(.down)) * hourMs }
        var shares: [(Int64, Double)] = []
        let span = Double(to.milliseconds - from.milliseconds)
        if bucket(from) == bucket(to) || (bucket(to) - bucket(from)) / hourMs > Int64(maxSpreadHours) {
            shares = [(bucket(to), hours)]
        } else {
            var start = from.milliseconds
            var b = bucket(from)
            while b <= bucket(to) {
                let end = min(b + hourMs, to.milliseconds)
                if end > start { shares.append((b, hours * Double(end - start) / span)) }
                start = end
                b += hourMs
            }
        }
        for (hour, share) in shares where share > 0 {
            try db.execute(sql: """
                INSERT INTO operating_hours (device_id, hour, site_id, profile_id, hours) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (device_id, hour) DO UPDATE SET hours = hours + excluded.hours, site_id = excluded.site_id, profile_id = excluded.profile_id
                """, arguments: [r.device.rawValue, hour, r.site.rawValue, r.profile, share])
        }
    }

    public func operatingHours(from: Timestamp, to: Timestamp) throws(StorageError) -> [OperatingHoursRow] {
        try store.read("read operating hours") { db in
            try Row.fetchAll(db, sql: """
                SELECT device_id, site_id, profile_id, SUM(hours) AS hours FROM operating_hours WHERE hour >= ? AND hour < ?
                GROUP BY device_id, site_id, profile_id ORDER BY device_id
                """, arguments: [from.milliseconds, to.milliseconds]).map {
                OperatingHoursRow(device: DeviceID($0["device_id"]), site: SiteID($0["site_id"]), profile: $0["profile_id"], hours: $0["hours"])
            }
        }
    }
}
