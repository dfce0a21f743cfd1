import FieldwatchCore

/// Several sensors of one device moving the same way together: vibration and bearing
/// temperature rising at once is bearing wear, where either alone may be load or weather.
///
/// Each sensor's readings are averaged into buckets of `window / buckets` of sample time; a
/// sensor has *risen* when its newest bucket is above its oldest one within the window by at
/// least `minChange` of its scale (for a sensor with limits, the distance from nominal to the
/// first limit, so the rule reads "each covered 10 % of its way to trouble"). The rule raises
/// when every sensor has moved its way at the same time, and clears once any of them has stayed
/// below half of that for `quietPeriod`. Bounded state (`buckets` means per sensor), O(1) per
/// sample. Pure: no I/O, no clock.
public struct MultiSensorRule: Sendable, Codable {
    public static let name = "multi-sensor-rule"
    public static let version = 1

    public enum Movement: String, Sendable, Codable, CaseIterable {
        case rising
        case falling
    }

    public struct Configuration: Sendable, Equatable, Codable {
        public var fault: FaultCode
        public var sensors: [SensorKey]
        /// The change that counts for each sensor, in its unit (from its scale × `min_change`).
        public var minChange: [Double]
        public var movement: Movement
        public var window: Duration
        public var buckets: Int
        public var quietPeriod: Duration

        public init(fault: FaultCode, sensors: [SensorKey], minChange: [Double], movement: Movement = .rising,
                    window: Duration = .seconds(7200), buckets: Int = 12, quietPeriod: Duration = .seconds(1800)) {
            precondition(sensors.count == minChange.count && sensors.count >= 2, "a rule needs two or more sensors, each with its change")
            self.fault = fault
            self.sensors = sensors
            self.minChange = minChange
            self.movement = movement
            self.window = window
            self.buckets = max(buckets, 2)
            self.quietPeriod = quietPeriod
        }
    }

    /// One sensor's bucket means, oldest first, and the bucket being filled.
    struct Track: Sendable, Codable {
        var means: [Sample] = []
        var openIndex: Int64?
        var openSum = 0.0
        var openCount = 0
        var lastTimestamp: Timestamp?
    }

    public let configuration: Configuration
    public private(set) var active = false
    /// Each sensor's change over the window (newest bucket − oldest), in its unit; nil until known.
    public private(set) var changes: [Double?]
    private var tracks: [Track]
    private var quietSince: Timestamp?
    private let bucketMs: Int64

    public init(configuration: Configuration) {
        self.configuration = configuration
        changes = Array(repeating: nil, count: configuration.sensors.count)
        tracks = Array(repeating: Track(), count: configuration.sensors.count)
        bucketMs = max(configuration.window.wholeMilliseconds / Int64(configuration.buckets), 1)
    }

    /// Which of the rule's sensors `key` is, if any.
    public func index(of key: SensorKey) -> Int? { configuration.sensors.firstIndex(of: key) }

    /// Feeds one sample of the rule's sensor number `sensor`.
    public mutating func observe(sensor i: Int, _ sample: Sample) -> DetectorEvent? {
        guard sample.value.isFinite, tracks.indices.contains(i) else { return nil }
        if let last = tracks[i].lastTimestamp, sample.timestamp < last { return nil }
        tracks[i].lastTimestamp = sample.timestamp
        let index = sample.timestamp.milliseconds / bucketMs
        if let open = tracks[i].openIndex, open != index {
            close(i, bucket: open)
        }
        if tracks[i].openIndex != index {
            tracks[i].openIndex = index
            tracks[i].openSum = 0
            tracks[i].openCount = 0
        }
        tracks[i].openSum += sample.value
        tracks[i].openCount += 1
        return judge(at: sample)
    }

    private mutating func close(_ i: Int, bucket: Int64) {
        var track = tracks[i]
        let mean = Sample(timestamp: Timestamp(milliseconds: bucket * bucketMs + bucketMs / 2), value: track.openSum / Double(track.openCount))
        track.means.append(mean)
        // Keep the buckets of the last window only.
        let oldest = mean.timestamp - configuration.window
        track.means.removeAll { $0.timestamp <= oldest }
        if track.means.count > configuration.buckets { track.means.removeFirst(track.means.count - configuration.buckets) }
        tracks[i] = track
        changes[i] = track.means.count >= max(configuration.buckets / 2, 2) ? track.means.last!.value - track.means.first!.value : nil
    }

    private mutating func judge(at sample: Sample) -> DetectorEvent? {
        let sign: Double = configuration.movement == .rising ? 1 : -1
        let progress = zip(changes, configuration.minChange).map { change, needed in change.map { $0 * sign / needed } }
        let all = progress.allSatisfy { ($0 ?? 0) >= 1 }
        let t = sample.timestamp
        if !active && all {
            active = true
            quietSince = nil
            let weakest = progress.compactMap { $0 }.min() ?? 1
            return DetectorEvent(transition: .raised, severity: .warning, at: t, since: t - configuration.window, value: weakest, limit: 1)
        }
        guard active else { return nil }
        if progress.contains(where: { ($0 ?? 0) < 0.5 }) {
            let since = quietSince ?? t
            quietSince = since
            if t - since >= configuration.quietPeriod {
                active = false
                quietSince = nil
                return DetectorEvent(transition: .cleared, severity: .warning, at: t, since: since, value: progress.compactMap { $0 }.min() ?? 0, limit: 0.5)
            }
        } else {
            quietSince = nil
        }
        return nil
    }
}
