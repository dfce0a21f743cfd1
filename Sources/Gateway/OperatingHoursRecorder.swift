import FieldwatchCore
import Foundation
import Logging
import Profiles
import Storage
import Synchronization
import TimeSeries

/// Turns the devices' run-hours counters into operating hours per device and hour, for MTBF
/// on operating hours. At every checkpoint it reads the latest value of each counter from the
/// rings and hands the readings to the repository, which counts what ran since the stored
/// reading (resets and impossible jumps are not counted; see `CounterStep`).
///
/// An operating-hours counter is a sensor of kind `counter` whose unit is hours (`h`).
public final class OperatingHoursRecorder: Sendable {
    public struct Counters: Sendable, Equatable {
        public var saves = 0
        public var failures = 0
        public var hoursCounted = 0.0
        public var resets = 0
        public var jumps = 0
    }

    struct Counter: Sendable {
        let key: SeriesKey
        let site: SiteID
        let profile: String
    }

    private let counterSeries: [Counter]
    private let series: SeriesStore
    private let repository: any OperatingHoursRepository
    private let logger: Logger
    private let state = Mutex(Counters())

    public init(inventory: Inventory, profiles: [String: DeviceProfile], series: SeriesStore, repository: any OperatingHoursRepository,
                logger: Logger = Logger(label: "fieldwatch.hours")) {
        counterSeries = inventory.devices.compactMap { device -> Counter? in
            guard let profile = profiles[device.profileID],
                  let spec = profile.sensors.first(where: { Self.isOperatingHours($0) }) else { return nil }
            return Counter(key: SeriesKey(device: device.id, sensor: spec.key), site: device.site, profile: profile.id)
        }
        self.series = series
        self.repository = repository
        self.logger = logger
    }

    /// A counter in hours.
    public static func isOperatingHours(_ spec: SensorSpec) -> Bool {
        spec.kind == .counter && ["h", "hour", "hours", "hr"].contains(spec.unit.lowercased())
    }

    /// Devices with an operating-hours counter.
    public var devices: Int { counterSeries.count }
    public var counters: Counters { state.withLock { $0 } }

    /// Records the latest reading of every counter; false (logged, counted) when it could not.
    @discardableResult
    public func save() -> Bool {
        let readings = counterSeries.compactMap { c -> CounterReading? in
            series.latest(c.key).map {
                CounterReading(device: c.key.device, site: c.site, profile: c.profile, sensor: c.key.sensor, value: $0.value, at: $0.timestamp)
            }
        }
        guard !readings.isEmpty else { return true }
        do {
            let update = try repository.record(readings)
            state.withLock {
                $0.saves += 1
                $0.hoursCounted += update.counted
                $0.resets += update.resets.count
                $0.jumps += update.jumps.count
            }
            for device in update.resets { logger.info("operating-hours counter of \(device) went backwards (reset or replaced controller): counting from its new value") }
            for device in update.jumps {
                logger.warning("operating-hours counter of \(device) jumped by more hours than have passed: not counted; check the device's counter and its unit")
            }
            return true
        } catch {
            state.withLock { $0.failures += 1 }
            logger.warning("cannot record operating hours, next try at the next checkpoint: \(error)")
            return false
        }
    }
}
