import FieldwatchCore
import Foundation

/// Runs the detectors declared for each series. Value type, owned by one ingest pipeline;
/// bounded state (one detector per registered series), O(1) per sample.
public struct DetectionEngine: Sendable {
    struct SeriesDetectors: Sendable {
        var threshold: ThresholdDetector?
        var flatline: FlatlineDetector?
        var forecast: TrendForecaster?
        var rateOfChange: RateOfChangeDetector?
        var changePoint: ChangePointDetector?
        var anomaly: AnomalyDetector?
        var lastTimestamp: Timestamp?
        init() {}

        /// Feeds one sample to every detector; false for a late sample (older than the last
        /// one seen), which no detector sees.
        mutating func observe(_ sample: Sample, into events: inout [Fired], judging: Judging = .all) -> Bool {
            if let last = lastTimestamp, sample.timestamp < last { return false }
            lastTimestamp = sample.timestamp
            switch judging {
            case .all: break
            case .nothing: return true
            case .limitsAbove:
                // A stopped machine: only a limit above is judged (it still overheats); nothing learns.
                if threshold?.configuration.direction == .above, let event = threshold?.observe(sample) {
                    events.append(Fired(source: .threshold, event: event))
                }
                return true
            }
            if let event = threshold?.observe(sample) { events.append(Fired(source: .threshold, event: event)) }
            if let event = flatline?.observe(sample) { events.append(Fired(source: .flatline, event: event)) }
            if let event = forecast?.observe(sample) {
                // While the limit itself is crossed the threshold detector speaks: a forecast that
                // fades then is no recovery.
                if !(event.transition == .cleared && threshold?.active != nil) {
                    events.append(Fired(source: .forecast, event: event, forecast: forecast.flatMap(DetectionEngine.limitForecast)))
                }
            }
            if let event = rateOfChange?.observe(sample) { events.append(Fired(source: .rateOfChange, event: event)) }
            if let event = changePoint?.observe(sample) { events.append(Fired(source: .changePoint, event: event)) }
            if let event = anomaly?.observe(sample) { events.append(Fired(source: .anomaly, event: event)) }
            return true
        }
    }

    /// What a sample is judged against: everything (a running machine, or one whose profile
    /// does not say), only limits above (a stopped machine), or nothing (the settle time after
    /// a start: start-up transients are no fault). See `OperatingStateSpec`.
    public enum Judging: Sendable {
        case all, limitsAbove, nothing
    }

    /// Which detector produced an event.
    public enum Source: String, Sendable {
        case threshold
        case flatline
        case forecast
        case rateOfChange
        case changePoint
        case anomaly
        /// A multi-sensor rule of the device.
        case rule
        /// Readings outside the physical range, again and again (sensor health).
        case rangeHealth

        /// Name and version of the detector logic, as recorded with its tickets.
        public var detector: (name: String, version: Int) {
            switch self {
            case .threshold: (ThresholdDetector.name, ThresholdDetector.version)
            case .flatline: (FlatlineDetector.name, FlatlineDetector.version)
            case .forecast: (TrendForecaster.name, TrendForecaster.version)
            case .rateOfChange: (RateOfChangeDetector.name, RateOfChangeDetector.version)
            case .changePoint: (ChangePointDetector.name, ChangePointDetector.version)
            case .anomaly: (AnomalyDetector.name, AnomalyDetector.version)
            case .rule: (MultiSensorRule.name, MultiSensorRule.version)
            case .rangeHealth: (RangeHealthDetector.name, RangeHealthDetector.version)
            }
        }
    }

    /// One detector's event, with the forecast behind it when the detector forecasts.
    public struct Fired: Sendable {
        public var source: Source
        public var event: DetectorEvent
        public var forecast: LimitForecast?
        /// For a multi-sensor rule: its fault, its sensors and how far each moved.
        public var rule: RuleFiring?

        public init(source: Source, event: DetectorEvent, forecast: LimitForecast? = nil, rule: RuleFiring? = nil) {
            self.source = source
            self.event = event
            self.forecast = forecast
            self.rule = rule
        }
    }

    /// What a multi-sensor rule saw when it fired.
    public struct RuleFiring: Sendable {
        public var fault: FaultCode
        public var sensors: [SensorKey]
        /// Each sensor's change over the window, in its unit.
        public var changes: [Double?]
        public var window: Duration
    }

    private var series: [SeriesKey: SeriesDetectors] = [:]
    /// Multi-sensor rules by device: they see every sample of the sensors they combine.
    private var rules: [DeviceID: [MultiSensorRule]] = [:]

    public init() {}

    /// Declares the threshold detector of a series (replacing any earlier one).
    public mutating func register(_ key: SeriesKey, threshold: ThresholdDetector.Configuration) {
        series[key, default: SeriesDetectors()].threshold = ThresholdDetector(configuration: threshold)
    }

    /// Declares the flatline (stuck sensor) detector of a series.
    public mutating func register(_ key: SeriesKey, flatline: FlatlineDetector.Configuration) {
        series[key, default: SeriesDetectors()].flatline = FlatlineDetector(configuration: flatline)
    }

    /// Declares the trend forecast of a series' critical limit.
    public mutating func register(_ key: SeriesKey, forecast: TrendForecaster.Configuration) {
        series[key, default: SeriesDetectors()].forecast = TrendForecaster(configuration: forecast)
    }

    /// Declares the rate-of-change detector of a series.
    public mutating func register(_ key: SeriesKey, rateOfChange: RateOfChangeDetector.Configuration) {
        series[key, default: SeriesDetectors()].rateOfChange = RateOfChangeDetector(configuration: rateOfChange)
    }

    /// Declares the change-point (CUSUM) detector of a series.
    public mutating func register(_ key: SeriesKey, changePoint: ChangePointDetector.Configuration) {
        series[key, default: SeriesDetectors()].changePoint = ChangePointDetector(configuration: changePoint)
    }

    /// Declares the anomaly (adaptive baseline) detector of a series.
    public mutating func register(_ key: SeriesKey, anomaly: AnomalyDetector.Configuration) {
        series[key, default: SeriesDetectors()].anomaly = AnomalyDetector(configuration: anomaly)
    }

    /// Declares a multi-sensor rule of a device.
    public mutating func register(device: DeviceID, rule: MultiSensorRule.Configuration) {
        rules[device, default: []].append(MultiSensorRule(configuration: rule))
        // Every sensor the rule combines is watched, even one without detectors of its own.
        for sensor in rule.sensors { series[SeriesKey(device: device, sensor: sensor), default: SeriesDetectors()].lastTimestamp = nil }
    }

    public var registeredCount: Int { series.count }

    /// Feeds one sample to the series' detectors. Detectors see samples in timestamp order
    /// only: a late sample (older than the last one seen) is stored by the ring but not
    /// re-evaluated, because the decisions it would change have already been taken.
    public mutating func observe(_ sample: Sample, for key: SeriesKey) -> DetectorEvent? {
        observeAll(sample, for: key).first?.event
    }

    /// Feeds one sample to every detector of the series; returns each one's event, if any.
    ///
    /// `judging` (see `Judging`): short of `.all`, no detector or rule learns from the sample.
    public mutating func observeAll(_ sample: Sample, for key: SeriesKey, judging: Judging = .all) -> [Fired] {
        guard let index = series.index(forKey: key) else { return [] }
        var events: [Fired] = []
        // In place: a copy of the entry would make its detectors' buffers shared, and every
        // mutation would then copy them.
        guard series.values[index].observe(sample, into: &events, judging: judging) else { return [] }
        if judging == .all, !rules.isEmpty, let index = rules.index(forKey: key.device) {
            for i in rules.values[index].indices {
                guard let sensor = rules.values[index][i].index(of: key.sensor),
                      let event = rules.values[index][i].observe(sensor: sensor, sample) else { continue }
                let rule = rules.values[index][i]
                events.append(Fired(source: .rule, event: event, rule: RuleFiring(
                    fault: rule.configuration.fault, sensors: rule.configuration.sensors, changes: rule.changes, window: rule.configuration.window)))
            }
        }
        return events
    }

    /// The forecaster's current forecast in absolute times.
    static func limitForecast(_ f: TrendForecaster) -> LimitForecast? {
        guard let latest = f.latest else { return nil }
        return LimitForecast(
            limit: f.configuration.limit, crossingAt: latest.predictedCrossing, earliest: latest.fittedAt + latest.earliest,
            latest: latest.latest.map { latest.fittedAt + $0 }, slopePerHour: latest.slopePerHour, level: latest.level,
            fittedAt: latest.fittedAt, windowStart: latest.windowStart, points: latest.points)
    }

    /// The current forecast of a series, if its forecaster has one.
    public func forecast(for key: SeriesKey) -> LimitForecast? {
        series[key]?.forecast.flatMap(Self.limitForecast)
    }

    /// How anomalous the series' last sample looked to its detectors, in [0, 1]: the largest of
    /// their scores (a raised critical limit 1, a raised warning 0.75, a stuck sensor 0.75, and
    /// the forecast, rate, change-point and anomaly scores as they are).
    public func score(for key: SeriesKey) -> Double {
        guard let d = series[key] else { return 0 }
        var s = 0.0
        switch d.threshold?.active {
        case .critical?: s = 1
        case .warning?: s = 0.75
        case nil: break
        }
        if d.flatline?.active == true { s = max(s, 0.75) }
        s = max(s, d.forecast?.score ?? 0, d.rateOfChange?.score ?? 0, d.changePoint?.score ?? 0, d.anomaly?.score ?? 0)
        return s
    }

    /// The level currently raised on a series, if any (for status views and tests).
    public func activeSeverity(for key: SeriesKey) -> Severity? {
        series[key]?.threshold?.active
    }
}

// MARK: - Checkpoints

extension DetectionEngine {
    /// What `restore(from:)` did.
    public struct RestoreReport: Sendable, Equatable {
        /// Detectors that took up their saved state.
        public var restored = 0
        /// Saved detectors whose configuration (or detector version) differs from the current
        /// one, or whose kind the series no longer runs: they start fresh.
        public var discarded = 0
        /// Saved series that are not registered now (device or sensor removed).
        public var unknownSeries = 0

        public init(restored: Int = 0, discarded: Int = 0, unknownSeries: Int = 0) {
            self.restored = restored
            self.discarded = discarded
            self.unknownSeries = unknownSeries
        }
    }

    /// The saved state of every series that has seen a sample, as JSON (`format` 1). Series
    /// that never saw one hold only fresh detectors and are left out. Pure: encodes in memory.
    public func checkpoint() throws -> Data {
        let saved = series.compactMap { key, detectors in detectors.lastTimestamp == nil ? nil : DetectorCheckpoint.SavedSeries(key, detectors) }
            .sorted { ($0.device, $0.sensor) < ($1.device, $1.sensor) }
        let savedRules = rules.map { device, rules in DetectorCheckpoint.SavedRules(device: device, rules: rules.map(DetectorCheckpoint.SavedDetector.init)) }
            .sorted { $0.device < $1.device }
        do {
            return try DetectorCheckpoint.encoder.encode(DetectorCheckpoint.Envelope(
                format: DetectorCheckpoint.format, series: saved, rules: savedRules.isEmpty ? nil : savedRules))
        } catch {
            throw CheckpointError("cannot encode the detector state (\(error))")
        }
    }

    /// Puts saved detector state in place of the fresh state of the series registered now.
    /// Decodes the whole checkpoint before changing anything: on a throw the engine is as it was.
    public mutating func restore(from data: Data) throws -> RestoreReport {
        let envelope = try DetectorCheckpoint.decode(data)
        var report = RestoreReport()
        for saved in envelope.series {
            let key = SeriesKey(device: saved.device, sensor: saved.sensor)
            guard var entry = series[key] else {
                report.unknownSeries += 1
                continue
            }
            // One line per detector kind of `SeriesDetectors`.
            Self.adopt(saved.threshold, into: &entry.threshold, &report)
            Self.adopt(saved.flatline, into: &entry.flatline, &report)
            Self.adopt(saved.forecast, into: &entry.forecast, &report)
            Self.adopt(saved.rateOfChange, into: &entry.rateOfChange, &report)
            Self.adopt(saved.changePoint, into: &entry.changePoint, &report)
            Self.adopt(saved.anomaly, into: &entry.anomaly, &report)
            // Samples older than the last one seen before the restart are late, as they would have been without it.
            if let last = saved.lastTimestamp { entry.lastTimestamp = max(entry.lastTimestamp ?? last, last) }
            series[key] = entry
        }
        // A device's rules are matched in order: the n-th saved rule restores the n-th rule now.
        for saved in envelope.rules ?? [] {
            guard var current = rules[saved.device] else {
                report.unknownSeries += 1
                continue
            }
            for (i, rule) in saved.rules.enumerated() {
                var slot: MultiSensorRule? = current.indices.contains(i) ? current[i] : nil
                Self.adopt(rule, into: &slot, &report)
                if let slot, current.indices.contains(i) { current[i] = slot }
            }
            rules[saved.device] = current
        }
        return report
    }

    /// Replaces `current` with the saved detector when both exist, the saved one was written by
    /// this version of the detector, and their configurations are equal; anything else saved is
    /// discarded (the fresh detector stays).
    static func adopt<D: CheckpointedDetector>(_ saved: DetectorCheckpoint.SavedDetector<D>?, into current: inout D?, _ report: inout RestoreReport) {
        guard let saved else { return }
        guard let fresh = current, let detector = saved.detector, detector.configuration == fresh.configuration else {
            report.discarded += 1
            return
        }
        current = detector
        report.restored += 1
    }
}
