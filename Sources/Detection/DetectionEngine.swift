import FieldwatchCore

/// Runs the detectors declared for each series. Value type, owned by one ingest pipeline;
/// bounded state (one detector per registered series), O(1) per sample.
public struct DetectionEngine: Sendable {
    struct SeriesDetectors: Sendable {
        var threshold: ThresholdDetector?
        var flatline: FlatlineDetector?
        var lastTimestamp: Timestamp?
        init() {}
        init(threshold: ThresholdDetector) { self.threshold = threshold }
    }

    /// Which detector produced an event.
    public enum Source: String, Sendable {
        case threshold
        case flatline
    }

    private var series: [SeriesKey: SeriesDetectors] = [:]

    public init() {}

    /// Declares the threshold detector of a series (replacing any earlier one).
    public mutating func register(_ key: SeriesKey, threshold: ThresholdDetector.Configuration) {
        series[key, default: SeriesDetectors()].threshold = ThresholdDetector(configuration: threshold)
    }

    /// Declares the flatline (stuck sensor) detector of a series.
    public mutating func register(_ key: SeriesKey, flatline: FlatlineDetector.Configuration) {
        series[key, default: SeriesDetectors()].flatline = FlatlineDetector(configuration: flatline)
    }

    public var registeredCount: Int { series.count }

    /// Feeds one sample to the series' detectors. Detectors see samples in timestamp order
    /// only: a late sample (older than the last one seen) is stored by the ring but not
    /// re-evaluated, because the decisions it would change have already been taken.
    public mutating func observe(_ sample: Sample, for key: SeriesKey) -> DetectorEvent? {
        observeAll(sample, for: key).first?.event
    }

    /// Feeds one sample to every detector of the series; returns each one's event, if any.
    public mutating func observeAll(_ sample: Sample, for key: SeriesKey) -> [(source: Source, event: DetectorEvent)] {
        guard var entry = series[key] else { return [] }
        if let last = entry.lastTimestamp, sample.timestamp < last { return [] }
        entry.lastTimestamp = sample.timestamp
        var events: [(source: Source, event: DetectorEvent)] = []
        if let event = entry.threshold?.observe(sample) { events.append((.threshold, event)) }
        if let event = entry.flatline?.observe(sample) { events.append((.flatline, event)) }
        series[key] = entry
        return events
    }

    /// The level currently raised on a series, if any (for status views and tests).
    public func activeSeverity(for key: SeriesKey) -> Severity? {
        series[key]?.threshold?.active
    }
}
