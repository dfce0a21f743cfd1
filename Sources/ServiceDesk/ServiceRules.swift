import FieldwatchCore
import Profiles
import Storage

/// What the desk knows about sites and devices, from the inventory and the device profiles:
/// whose they are, how much the customer's contract is worth, how critical the equipment is,
/// and in which time zone the site's working hours are counted.
public struct SiteDirectory: Sendable, Equatable {
    public struct SiteFacts: Sendable, Equatable {
        public var customer: String
        public var tier: CustomerTier
        public var timeZone: String
        public init(customer: String, tier: CustomerTier, timeZone: String) {
            self.customer = customer
            self.tier = tier
            self.timeZone = timeZone
        }
    }
    public struct DeviceFacts: Sendable, Equatable {
        public var site: SiteID
        public var criticality: Int
        public init(site: SiteID, criticality: Int) {
            self.site = site
            self.criticality = criticality
        }
    }
    public var sites: [SiteID: SiteFacts]
    public var devices: [DeviceID: DeviceFacts]
    public init(sites: [SiteID: SiteFacts] = [:], devices: [DeviceID: DeviceFacts] = [:]) {
        self.sites = sites
        self.devices = devices
    }
}

/// The policy and the directory together: everything grading and SLA clocks depend on.
public struct ServiceRules: Sendable, Equatable {
    public var policy: ServicePolicy
    public var directory: SiteDirectory
    public init(policy: ServicePolicy = .default, directory: SiteDirectory = SiteDirectory()) {
        self.policy = policy
        self.directory = directory
    }
    public static let `default` = ServiceRules()

    /// Criticality 3 (the profile default) and a standard tier when the directory does not know.
    func facts(severity: Severity, site: SiteID, device: DeviceID) -> GradingFacts {
        GradingFacts(severity: severity, criticality: directory.devices[device]?.criticality ?? 3,
                     tier: directory.sites[site]?.tier ?? .standard)
    }

    /// Recomputes every SLA clock of a ticket from the policy, its pauses and the goals met
    /// so far, and stores them. A ticket with a forecast must be on site and resolved before
    /// the forecast's earliest crossing when that is sooner than the contract's targets. `met` overrides when a clock's goal was reached (nil clears it).
    @discardableResult
    func refreshClocks(_ ticket: Ticket, in tx: TicketTransaction, met: [ClockKind: Timestamp?] = [:]) throws -> [ClockRecord] {
        let existing = Dictionary(try tx.clocks(ticketID: ticket.id).map { ($0.kind, $0) }, uniquingKeysWith: { a, _ in a })
        let targets = policy.targets(grade: ticket.grade, tier: ticket.tier)
        let calendar = policy.calendar(targets.calendar, siteTimeZone: ticket.timeZone)
        let pauses = try tx.pauses(ticketID: ticket.id).map { PauseInterval(start: $0.startedAt, end: $0.endedAt) }
        var result: [ClockRecord] = []
        for kind in ClockKind.allCases {
            let metAt: Timestamp? = met[kind] ?? existing[kind.rawValue]?.metAt
            let state: ClockRecord.State
            if metAt != nil {
                state = .met
            } else if ticket.status == .cancelled {
                state = .stopped
            } else if ticket.status == .resolved || ticket.status == .closed {
                state = .notNeeded
            } else if kind.isPausable && ticket.paused {
                state = .paused
            } else {
                state = .running
            }
            let target = targets.target(kind)
            var deadline = SLA.deadline(start: ticket.openedAt, target: target, calendar: calendar, pauses: kind.isPausable ? pauses : [])
            // A predicted failure sets its own deadline: the engineer must be there, and the
            // fix done, before the earliest predicted crossing if that comes before the contract's.
            if kind != .firstContact, let earliest = ticket.forecast?.earliest, earliest > ticket.openedAt {
                deadline = min(deadline ?? earliest, earliest)
            }
            let record = ClockRecord(ticketID: ticket.id, kind: kind.rawValue, startedAt: ticket.openedAt, targetMilliseconds: target.wholeMilliseconds,
                                     calendar: targets.calendar, deadline: deadline, metAt: metAt, state: state)
            try tx.saveClock(record)
            result.append(record)
        }
        return result
    }
}

extension SiteDirectory {
    /// Customer, tier and time zone per site from the inventory; criticality per device from its profile.
    public init(inventory: Inventory, profiles: [String: DeviceProfile]) {
        self.init(
            sites: Dictionary(inventory.sites.map { ($0.id, SiteFacts(customer: $0.customer, tier: $0.tier, timeZone: $0.timeZone)) },
                              uniquingKeysWith: { a, _ in a }),
            devices: Dictionary(inventory.devices.map { ($0.id, DeviceFacts(site: $0.site, criticality: profiles[$0.profileID]?.criticality ?? 3)) },
                                uniquingKeysWith: { a, _ in a }))
    }
}
