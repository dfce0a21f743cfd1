/// When a trend is predicted to carry a sensor past its critical limit: the central estimate
/// and a confidence band, with the fit it came from. Carried by a forecast anomaly into its
/// ticket, where later evidence replaces it.
public struct LimitForecast: Sendable, Hashable, Codable {
    /// The critical limit the trend is heading for.
    public var limit: Double
    /// Where the fitted trend crosses the limit.
    public var crossingAt: Timestamp
    /// The band's early end (the steeper slope of the band).
    public var earliest: Timestamp
    /// The band's late end; nil when the shallow end of the band never reaches the limit.
    public var latest: Timestamp?
    /// The fitted trend, in the sensor's unit per hour.
    public var slopePerHour: Double
    /// The fitted value at `fittedAt`.
    public var level: Double
    /// The newest point of the fit.
    public var fittedAt: Timestamp
    /// The oldest point of the fit: the evidence window is `windowStart...fittedAt`.
    public var windowStart: Timestamp
    /// How many points the fit used.
    public var points: Int

    public init(limit: Double, crossingAt: Timestamp, earliest: Timestamp, latest: Timestamp?, slopePerHour: Double, level: Double,
                fittedAt: Timestamp, windowStart: Timestamp, points: Int) {
        self.limit = limit
        self.crossingAt = crossingAt
        self.earliest = earliest
        self.latest = latest
        self.slopePerHour = slopePerHour
        self.level = level
        self.fittedAt = fittedAt
        self.windowStart = windowStart
        self.points = points
    }

    /// Time from `fittedAt` to the central crossing.
    public var timeToLimit: Duration { crossingAt - fittedAt }

    /// "in 14 h (10 h – 20 h)": the lead time and its band, rounded for people.
    public var leadDescription: String {
        let band = "\(Self.describe(earliest - fittedAt)) – \(latest.map { Self.describe($0 - fittedAt) } ?? "later")"
        return "in \(Self.describe(timeToLimit)) (\(band))"
    }

    static func describe(_ d: Duration) -> String {
        let s = max(d.secondsDouble, 0)
        func oneDecimal(_ x: Double) -> String {
            let r = (x * 10).rounded() / 10
            return r == r.rounded() ? "\(Int(r))" : "\(r)"
        }
        if s < 5400 { return "\(Int((s / 60).rounded())) min" }
        if s < 172_800 { return "\(oneDecimal(s / 3600)) h" }
        return "\(oneDecimal(s / 86_400)) d"
    }
}
