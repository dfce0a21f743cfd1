import FieldwatchCore

/// What a detector says when its condition changes.
public struct DetectorEvent: Sendable, Equatable {
    public var transition: Anomaly.Transition
    public var severity: Severity
    /// The sample that completed the condition.
    public var at: Timestamp
    /// When the condition started to hold continuously.
    public var since: Timestamp
    public var value: Double
    /// The crossed limit (raise) or the clear level (clear).
    public var limit: Double

    public init(transition: Anomaly.Transition, severity: Severity, at: Timestamp, since: Timestamp, value: Double, limit: Double) {
        self.transition = transition
        self.severity = severity
        self.at = at
        self.since = since
        self.value = value
        self.limit = limit
    }
}

/// A limit detector with two levels (warning, critical), hysteresis and a minimum duration.
///
/// A level fires once the value has been beyond its limit continuously for `minDuration`
/// (measured on sample timestamps, not on a clock), and fires again only at a higher level.
/// It clears once the value has stayed on the safe side of `clear` for `minDuration`, so a
/// value hovering around the limit neither flaps nor multiplies events. Pure: no I/O, no clock.
public struct ThresholdDetector: Sendable {
    public static let name = "threshold"
    public static let version = 1

    public struct Configuration: Sendable, Equatable {
        public var direction: LimitDirection
        public var warning: Double?
        public var critical: Double?
        /// The level the value must return past (towards safe) before the fault clears.
        public var clear: Double
        public var minDuration: Duration

        public init(direction: LimitDirection, warning: Double?, critical: Double?, clear: Double, minDuration: Duration) {
            self.direction = direction
            self.warning = warning
            self.critical = critical
            self.clear = clear
            self.minDuration = minDuration
        }
    }

    public let configuration: Configuration
    private let minDurationMs: Int64
    /// The level currently raised, if any.
    public private(set) var active: Severity?
    private var beyondWarningSince: Timestamp?
    private var beyondCriticalSince: Timestamp?
    private var safeSince: Timestamp?

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.minDurationMs = configuration.minDuration.wholeMilliseconds
    }

    /// Feeds one sample (in timestamp order) and returns an event when the state changes.
    public mutating func observe(_ sample: Sample) -> DetectorEvent? {
        let c = configuration
        let t = sample.timestamp
        let v = sample.value
        let beyondCritical = c.critical.map { c.direction.isBeyond(v, $0) } ?? false
        let beyondWarning = beyondCritical || (c.warning.map { c.direction.isBeyond(v, $0) } ?? false)
        beyondCriticalSince = beyondCritical ? (beyondCriticalSince ?? t) : nil
        beyondWarningSince = beyondWarning ? (beyondWarningSince ?? t) : nil

        if let since = beyondCriticalSince, let limit = c.critical, active != .critical, held(since, t) {
            active = .critical
            safeSince = nil
            return DetectorEvent(transition: .raised, severity: .critical, at: t, since: since, value: v, limit: limit)
        }
        if let since = beyondWarningSince, let limit = c.warning, active == nil, held(since, t) {
            active = .warning
            safeSince = nil
            return DetectorEvent(transition: .raised, severity: .warning, at: t, since: since, value: v, limit: limit)
        }
        guard let raised = active else { return nil }
        // Safe means back past the clear level, which sits on the safe side of the lowest limit.
        if c.direction.isBeyond(v, c.clear) || v == c.clear {
            safeSince = nil
            return nil
        }
        let since = safeSince ?? t
        safeSince = since
        guard held(since, t) else { return nil }
        active = nil
        safeSince = nil
        return DetectorEvent(transition: .cleared, severity: raised, at: t, since: since, value: v, limit: c.clear)
    }

    @inline(__always)
    private func held(_ since: Timestamp, _ now: Timestamp) -> Bool {
        now.milliseconds - since.milliseconds >= minDurationMs
    }
}

// MARK: - Checkpoints

extension ThresholdDetector.Configuration: Codable {}

/// Saves the configuration and the timers; `minDurationMs` is derived, so it is recomputed
/// from the configuration rather than trusted from the checkpoint.
extension ThresholdDetector: CheckpointedDetector {
    enum CodingKeys: String, CodingKey {
        case configuration
        case active
        case beyondWarningSince
        case beyondCriticalSince
        case safeSince
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(configuration: try c.decode(Configuration.self, forKey: .configuration))
        active = try c.decodeIfPresent(Severity.self, forKey: .active)
        beyondWarningSince = try c.decodeIfPresent(Timestamp.self, forKey: .beyondWarningSince)
        beyondCriticalSince = try c.decodeIfPresent(Timestamp.self, forKey: .beyondCriticalSince)
        safeSince = try c.decodeIfPresent(Timestamp.self, forKey: .safeSince)
    }
}
