/// What a detector reports when a sensor's condition changes: a fault raised (or raised to a
/// higher severity) or a fault cleared. Anomalies leave the hot path and become tickets.
public struct Anomaly: Sendable, Hashable {
    public enum Transition: String, Sendable, Codable {
        /// The condition held long enough to fire, or rose to a higher severity.
        case raised
        /// The value has stayed on the safe side of the clear level long enough.
        case cleared
    }

    public var site: SiteID
    public var device: DeviceID
    public var sensor: SensorKey
    public var faultCode: FaultCode
    public var transition: Transition
    public var severity: Severity
    /// Time of the sample that completed the condition.
    public var detectedAt: Timestamp
    /// Time the condition first held (for a raise: when the value first crossed the limit).
    public var conditionSince: Timestamp
    public var value: Double
    /// The limit that was crossed (for a clear: the clear level).
    public var limit: Double
    public var unit: String
    /// Detector type and version, so a ticket says which logic fired it.
    public var detector: String
    public var detectorVersion: Int
    public var profileID: String
    public var profileVersion: Int
    /// One human sentence: what was seen, against which limit.
    public var summary: String
    /// The ring's samples of this sensor around the detection, oldest first.
    public var evidence: [Sample]
    /// Raised from drill telemetry: it opens a drill ticket, kept apart from real ones.
    public var drill: Bool
    /// For a trend forecast: when the limit is predicted to be crossed.
    public var forecast: LimitForecast?

    public init(
        site: SiteID, device: DeviceID, sensor: SensorKey, faultCode: FaultCode, transition: Transition,
        severity: Severity, detectedAt: Timestamp, conditionSince: Timestamp, value: Double, limit: Double,
        unit: String, detector: String, detectorVersion: Int, profileID: String, profileVersion: Int,
        summary: String, evidence: [Sample], drill: Bool = false, forecast: LimitForecast? = nil
    ) {
        self.forecast = forecast
        self.site = site
        self.device = device
        self.sensor = sensor
        self.faultCode = faultCode
        self.transition = transition
        self.severity = severity
        self.detectedAt = detectedAt
        self.conditionSince = conditionSince
        self.value = value
        self.limit = limit
        self.unit = unit
        self.detector = detector
        self.detectorVersion = detectorVersion
        self.profileID = profileID
        self.profileVersion = profileVersion
        self.summary = summary
        self.evidence = evidence
        self.drill = drill
    }
}
