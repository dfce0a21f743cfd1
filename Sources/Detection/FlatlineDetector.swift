import FieldwatchCore

/// Sensor health: a reading that does not change at all for long enough is a stuck sensor (or
/// a frozen transmitter), not a calm machine. Real analog signals always carry some noise.
///
/// Raises once the value has stayed within `tolerance` of the first sample of the run for at
/// least `minSamples` samples *and* `minDuration`; clears on the first sample that moves.
/// Pure: no I/O, no clock.
public struct FlatlineDetector: Sendable {
    public static let name = "flatline"
    public static let version = 1

    public struct Configuration: Sendable, Equatable {
        public var minSamples: Int
        public var minDuration: Duration
        public var tolerance: Double

        public init(minSamples: Int = 30, minDuration: Duration = .seconds(300), tolerance: Double = 0) {
            self.minSamples = minSamples
            self.minDuration = minDuration
            self.tolerance = tolerance
        }
    }

    public let configuration: Configuration
    private var runValue: Double?
    private var runStart: Timestamp?
    private var runCount = 0
    public private(set) var active = false

    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
    }

    public mutating func observe(_ sample: Sample) -> DetectorEvent? {
        if let value = runValue, let start = runStart, abs(sample.value - value) <= configuration.tolerance {
            runCount += 1
            if !active && runCount >= configuration.minSamples && sample.timestamp - start >= configuration.minDuration {
                active = true
                return DetectorEvent(transition: .raised, severity: .warning, at: sample.timestamp, since: start, value: sample.value, limit: value)
            }
            return nil
        }
        let wasActive = active
        let since = runStart
        runValue = sample.value
        runStart = sample.timestamp
        runCount = 1
        active = false
        guard wasActive, let since else { return nil }
        return DetectorEvent(transition: .cleared, severity: .warning, at: sample.timestamp, since: since, value: sample.value, limit: sample.value)
    }
}

// MARK: - Checkpoints

extension FlatlineDetector.Configuration: Codable {}

/// Everything the detector holds is state worth saving; the conformance is synthesised.
extension FlatlineDetector: CheckpointedDetector {}
