import Foundation

// The field team: engineers, the service points they work from, and the partner providers
// that cover where the team cannot. Imported from a YAML file (`fieldwatch engineers import`),
// stored in the database, and read by dispatch.

/// A point on the earth in decimal degrees.
public struct GeoPoint: Sendable, Hashable, Codable {
    public var latitude: Double
    public var longitude: Double

    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    /// Great-circle distance (haversine, mean earth radius 6,371.0088 km).
    public func kilometres(to other: GeoPoint) -> Double {
        let r = 6_371.0088
        let φ1 = latitude * .pi / 180, φ2 = other.latitude * .pi / 180
        let dφ = φ2 - φ1, dλ = (other.longitude - longitude) * .pi / 180
        let a = sin(dφ / 2) * sin(dφ / 2) + cos(φ1) * cos(φ2) * sin(dλ / 2) * sin(dλ / 2)
        return 2 * r * asin(min(1, a.squareRoot()))
    }
}

/// Working hours: per weekday (1 = Sunday … 7 = Saturday) a list of [start, end) minutes of
/// the day, in `timeZone` (the site's when nil); nil `weekly` means round the clock.
public struct Shift: Sendable, Hashable, Codable {
    public struct Window: Sendable, Hashable, Codable {
        public var start: Int
        public var end: Int
        public init(start: Int, end: Int) {
            self.start = start
            self.end = end
        }
    }
    public var weekly: [Int: [Window]]?
    /// Local dates (YYYY-MM-DD) off.
    public var holidays: [String]
    public var timeZone: String?

    public init(weekly: [Int: [Window]]?, holidays: [String] = [], timeZone: String? = nil) {
        self.weekly = weekly
        self.holidays = holidays.sorted()
        self.timeZone = timeZone
    }

    public static let always = Shift(weekly: nil)
}

/// A skill an engineer holds, with the certificate that proves it.
public struct HeldSkill: Sendable, Hashable, Codable {
    public var skill: String
    /// Last valid local date (YYYY-MM-DD, UTC); nil: no certificate needed or none expires.
    public var certificateUntil: String?

    public init(skill: String, certificateUntil: String? = nil) {
        self.skill = skill
        self.certificateUntil = certificateUntil
    }

    /// Whether the certificate is valid at `t` (on its last day it still is).
    public func isValid(at t: Timestamp) -> Bool {
        guard let until = certificateUntil else { return true }
        return String(t.rfc3339.prefix(10)) <= until
    }
}

/// Who may do what in the field; the escalation ladder and the API roles use it.
public enum FieldRole: String, Sendable, Codable, CaseIterable {
    case engineer
    case dispatcher
    case supervisor
    case management
}

/// A member of the service team.
public struct Engineer: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var role: FieldRole
    public var skills: [HeldSkill]
    public var servicePoint: String?
    public var home: GeoPoint
    public var shift: Shift
    /// Open tickets assigned at once, at most.
    public var maxJobs: Int
    /// Labour cost per hour, in the company's currency.
    public var hourlyRate: Double
    public var active: Bool

    public init(id: String, name: String, role: FieldRole = .engineer, skills: [HeldSkill], servicePoint: String? = nil, home: GeoPoint,
                shift: Shift = .always, maxJobs: Int = 3, hourlyRate: Double = 0, active: Bool = true) {
        self.id = id
        self.name = name
        self.role = role
        self.skills = skills
        self.servicePoint = servicePoint
        self.home = home
        self.shift = shift
        self.maxJobs = maxJobs
        self.hourlyRate = hourlyRate
        self.active = active
    }
}

/// A depot engineers work from, or a partner's, with the area it covers.
public struct ServicePoint: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var position: GeoPoint
    public var radiusKilometres: Double
    /// The partner that runs it; nil for the company's own.
    public var partner: String?

    public init(id: String, name: String, position: GeoPoint, radiusKilometres: Double, partner: String? = nil) {
        self.id = id
        self.name = name
        self.position = position
        self.radiusKilometres = radiusKilometres
        self.partner = partner
    }

    public func covers(_ point: GeoPoint) -> Bool { position.kilometres(to: point) <= radiusKilometres }
}

/// A partner provider: another organisation's engineers, used when no in-house engineer can
/// meet a deadline, with the time to site it has committed to.
public struct Partner: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var skills: [String]
    public var servicePoints: [ServicePoint]
    /// Committed time from call-out to engineer on site, in minutes.
    public var responseMinutes: Int
    public var active: Bool

    public init(id: String, name: String, skills: [String], servicePoints: [ServicePoint], responseMinutes: Int, active: Bool = true) {
        self.id = id
        self.name = name
        self.skills = skills.sorted()
        self.servicePoints = servicePoints
        self.responseMinutes = responseMinutes
        self.active = active
    }
}

/// Everything a field-team file declares.
public struct FieldTeam: Sendable, Equatable {
    public var engineers: [Engineer]
    public var servicePoints: [ServicePoint]
    public var partners: [Partner]

    public init(engineers: [Engineer], servicePoints: [ServicePoint], partners: [Partner]) {
        self.engineers = engineers
        self.servicePoints = servicePoints
        self.partners = partners
    }
}

/// An engineer's last known position.
public struct EngineerPosition: Sendable, Hashable, Codable {
    public var engineer: String
    public var position: GeoPoint
    public var at: Timestamp

    public init(engineer: String, position: GeoPoint, at: Timestamp) {
        self.engineer = engineer
        self.position = position
        self.at = at
    }
}
