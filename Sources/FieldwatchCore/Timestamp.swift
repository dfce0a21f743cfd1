import Foundation

extension CodingUserInfoKey {
    /// Set to `true` in an encoder's `userInfo` to write every `Timestamp` as RFC 3339.
    public static let timestampsAsRFC3339 = CodingUserInfoKey(rawValue: "fieldwatch.timestamps-as-rfc3339")!
}

/// A point in time as whole milliseconds since the Unix epoch (UTC).
///
/// Telemetry arrives with millisecond resolution at best, and an `Int64` keeps a `Sample` at
/// 16 bytes, so the ring buffer stays compact and comparisons stay exact.
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }
    public init(_ date: Date) { milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    public static func now() -> Timestamp { Timestamp(Date()) }

    public var date: Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public static func + (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(milliseconds: lhs.milliseconds + rhs.wholeMilliseconds)
    }
    public static func - (lhs: Timestamp, rhs: Duration) -> Timestamp {
        Timestamp(milliseconds: lhs.milliseconds - rhs.wholeMilliseconds)
    }
    public static func - (lhs: Timestamp, rhs: Timestamp) -> Duration {
        .milliseconds(lhs.milliseconds - rhs.milliseconds)
    }

    /// Epoch milliseconds (what checkpoints and stored records use) or an RFC 3339 string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let ms = try? container.decode(Int64.self) {
            milliseconds = ms
            return
        }
        let text = try container.decode(String.self)
        guard let t = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(text)\" is neither epoch milliseconds nor an RFC 3339 time")
        }
        self = t
    }

    /// Epoch milliseconds, or RFC 3339 when the encoder's `userInfo` asks for it with
    /// `.timestampsAsRFC3339` (everything people and other programs read: the HTTP API and
    /// the command line's JSON), so a stored record nested in a response cannot leak an epoch.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if encoder.userInfo[.timestampsAsRFC3339] as? Bool == true {
            try container.encode(rfc3339)
        } else {
            try container.encode(milliseconds)
        }
    }

    /// RFC 3339 in UTC with milliseconds: `2026-11-27T10:53:30.123Z`.
    public var rfc3339: String {
        let (days, msOfDay) = milliseconds.floorDivided(by: 86_400_000)
        let (y, m, d) = Timestamp.civil(fromDays: days)
        let h = msOfDay / 3_600_000
        let mi = (msOfDay / 60_000) % 60
        let s = (msOfDay / 1000) % 60
        let ms = msOfDay % 1000
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(h, 2)):\(pad(mi, 2)):\(pad(s, 2)).\(pad(ms, 3))Z"
    }

    public var description: String { rfc3339 }

    /// Parses an RFC 3339 date-time (`2026-11-27T10:53:30Z`, `2026-11-27 10:53:30.5+08:00`).
    /// A space is accepted in place of `T`, as RFC 3339 §5.6 allows. Returns nil when the text
    /// is not a valid date-time (including impossible dates such as February 30).
    public init?(rfc3339 text: some StringProtocol) {
        var p = Array(text.utf8)[...]
        func digits(_ n: Int) -> Int64? {
            guard p.count >= n else { return nil }
            var v: Int64 = 0
            for _ in 0..<n {
                let c = p.removeFirst()
                guard c >= 0x30, c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            return v
        }
        func expect(_ chars: Set<UInt8>) -> Bool {
            guard let c = p.first, chars.contains(c) else { return false }
            p.removeFirst()
            return true
        }
        guard let year = digits(4), expect([0x2D]), let month = digits(2), expect([0x2D]), let day = digits(2),
              expect([0x54, 0x74, 0x20]), let hour = digits(2), expect([0x3A]), let minute = digits(2),
              expect([0x3A]), let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= Timestamp.daysIn(month: month, year: year),
              hour <= 23, minute <= 59, second <= 60
        else { return nil }
        var fractionMs: Int64 = 0
        if p.first == 0x2E {
            p.removeFirst()
            var scale: Int64 = 100
            var count = 0
            while let c = p.first, c >= 0x30, c <= 0x39 {
                p.removeFirst()
                fractionMs += Int64(c - 0x30) * scale
                scale /= 10
                count += 1
            }
            guard count > 0 else { return nil }
        }
        var offsetMinutes: Int64 = 0
        guard let zone = p.first else { return nil }
        p.removeFirst()
        switch zone {
        case 0x5A, 0x7A: break  // Z
        case 0x2B, 0x2D:  // + or -
            guard let oh = digits(2), expect([0x3A]), let om = digits(2), oh <= 23, om <= 59 else { return nil }
            offsetMinutes = (oh * 60 + om) * (zone == 0x2D ? -1 : 1)
        default: return nil
        }
        guard p.isEmpty else { return nil }
        let days = Timestamp.days(fromCivil: year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetMinutes * 60
        self.milliseconds = seconds * 1000 + fractionMs
    }

    // Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, exact).
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

private func pad(_ value: Int64, _ width: Int) -> String {
    let s = String(value)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

extension Int64 {
    /// Floor division and its non-negative remainder (Swift's `/` truncates toward zero).
    func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var q = self / divisor
        var r = self % divisor
        if r < 0 {
            q -= 1
            r += divisor
        }
        return (q, r)
    }
}

extension Duration {
    /// The duration in whole milliseconds, truncated.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// The duration in seconds as a `Double` (for display and arithmetic on rates).
    public var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
