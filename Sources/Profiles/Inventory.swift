import FieldwatchCore
import Foundation
import Yams

/// A site: where equipment is installed, whose it is, and its local time.
public struct Site: Sendable, Equatable {
    public var id: SiteID
    public var name: String
    public var customer: String
    public var latitude: Double
    public var longitude: Double
    /// IANA time zone (`Asia/Shanghai`), for business-hours SLA calendars and local display.
    public var timeZone: String
    /// The customer's service tier: VIP sites get tighter SLA targets (see the service policy).
    public var tier: CustomerTier
    /// The Sparkplug B group id the site's edge nodes publish under (default: the site id).
    public var sparkplugGroup: String?

    public init(id: SiteID, name: String, customer: String, latitude: Double, longitude: Double, timeZone: String, tier: CustomerTier = .standard,
                sparkplugGroup: String? = nil) {
        self.id = id
        self.tier = tier
        self.sparkplugGroup = sparkplugGroup
        self.name = name
        self.customer = customer
        self.latitude = latitude
        self.longitude = longitude
        self.timeZone = timeZone
    }
}

/// A service contract on a device: what it pays for.
public struct ServiceContract: Sendable, Equatable {
    public enum Covers: String, Sendable, CaseIterable {
        case labour
        case parts
        case both
    }
    public var id: String
    public var covers: Covers

    public init(id: String, covers: Covers) {
        self.id = id
        self.covers = covers
    }
}

/// One installed piece of equipment and the profile that describes it.
public struct Device: Sendable, Equatable {
    public var id: DeviceID
    public var site: SiteID
    public var profileID: String
    public var name: String?
    /// Last day of the manufacturer's warranty (YYYY-MM-DD): repairs of faults opened until
    /// then are not billed.
    public var warrantyUntil: String?
    public var contract: ServiceContract?
    /// The name the device goes by in its own messages, when that is not its id: its Sparkplug
    /// edge node or device id, its SenML base name, or the `{device}` part of a mapped topic.
    public var externalID: String?

    public init(id: DeviceID, site: SiteID, profileID: String, name: String? = nil, warrantyUntil: String? = nil, contract: ServiceContract? = nil,
                externalID: String? = nil) {
        self.id = id
        self.externalID = externalID
        self.site = site
        self.profileID = profileID
        self.name = name
        self.warrantyUntil = warrantyUntil
        self.contract = contract
    }
}

/// The sites and devices one gateway serves. The simulator reads the same file.
public struct Inventory: Sendable, Equatable {
    public var sites: [Site]
    public var devices: [Device]
    /// Topics and JSON shapes of devices that publish their own format (see `TopicMapping`).
    public var mappings: [TopicMapping]
    public var sourceFile: String

    public init(sites: [Site], devices: [Device], mappings: [TopicMapping] = [], sourceFile: String) {
        self.sites = sites
        self.devices = devices
        self.mappings = mappings
        self.sourceFile = sourceFile
    }

    public func site(_ id: SiteID) -> Site? { sites.first { $0.id == id } }
    public func device(_ id: DeviceID) -> Device? { devices.first { $0.id == id } }

    /// Top-level keys the simulator reads from the same file; the gateway ignores them.
    static let simulatorKeys = ["scenarios", "simulation"]

    /// Parses and validates an inventory against the loaded profiles.
    public static func parse(_ text: String, file: String, profiles: [String: DeviceProfile]) throws(ProfileError) -> Inventory {
        let context = YAMLContext(file: file)
        let inventory = context.compose(text).flatMap { read($0, context: context, profiles: profiles) }
        guard context.issues.isEmpty, let inventory else { throw ProfileError(issues: context.issues) }
        return inventory
    }

    public static func load(file: String, profiles: [String: DeviceProfile]) throws(ProfileError) -> Inventory {
        try parse(try ProfileLoader.readText(file), file: file, profiles: profiles)
    }

    static func read(_ node: Node, context: YAMLContext, profiles: [String: DeviceProfile]) -> Inventory? {
        guard var r = MappingReader(node, path: "", context: context, what: "an inventory of sites and devices") else { return nil }
        var sites: [Site] = []
        // Ids of every site entry, valid or not, so one bad site does not also make each of
        // its devices report "unknown site".
        var siteIDs: [String] = []
        if let nodes = r.sequence("sites", "sites (id, name, customer, latitude, longitude, timezone)") {
            for (i, n) in nodes.enumerated() {
                if case let .mapping(m) = n, let id = m["id"]?.string { siteIDs.append(id) }
                guard let site = readSite(n, path: "sites[\(i)]", context: context) else { continue }
                if sites.contains(where: { $0.id == site.id }) {
                    context.report(n, "sites[\(i)].id", "duplicate site id \"\(site.id)\"; each site needs its own id")
                    continue
                }
                sites.append(site)
            }
        }
        var devices: [Device] = []
        if let nodes = r.sequence("devices", "devices (id, site, profile)") {
            for (i, n) in nodes.enumerated() {
                let path = "devices[\(i)]"
                guard var d = MappingReader(n, path: path, context: context, what: "a device") else { continue }
                let id = d.identifier("id", "the device id used in MQTT topics, e.g. pump-01")
                let site = d.string("site", "the id of the site the device is installed at")
                let profile = d.string("profile", "the id of the device's profile in DeviceProfiles/")
                let name = d.string("name", required: false, "a human name")
                let external = d.string("external_id", required: false, "the name the device has in its own messages (Sparkplug id, SenML base name)")
                var warranty = d.string("warranty_until", required: false, "the warranty's last day, YYYY-MM-DD")
                if let w = warranty, w.range(of: #"^\d{4}-\d\d-\d\d$"#, options: .regularExpression) == nil {
                    context.report(d.value("warranty_until"), "\(path).warranty_until", "\"\(w)\" is not a date; write YYYY-MM-DD, e.g. 2027-06-30")
                    warranty = nil
                }
                var contract: ServiceContract?
                if let node = d.value("contract"), var cr = MappingReader(node, path: "\(path).contract", context: context, what: "a service contract (id, covers)") {
                    let cid = cr.string("id", "the contract's id, e.g. SC-2026-014")
                    let covers = cr.enumeration("covers", ServiceContract.Covers.self)
                    cr.finish()
                    if let cid, let covers { contract = ServiceContract(id: cid, covers: covers) }
                }
                d.finish()
                var ok = id != nil
                if let site, !siteIDs.contains(site) {
                    context.report(d.value("site"), "\(path).site",
                                   "unknown site \"\(site)\"\(didYouMean(site, siteIDs)); add it under sites: or fix the id")
                    ok = false
                }
                if let profile, profiles[profile] == nil {
                    let known = profiles.keys.sorted()
                    context.report(d.value("profile"), "\(path).profile",
                                   "unknown profile \"\(profile)\"\(didYouMean(profile, known)); known profiles: \(known.isEmpty ? "none loaded" : known.joined(separator: ", "))")
                    ok = false
                }
                if let id, devices.contains(where: { $0.id.rawValue == id }) {
                    context.report(n, "\(path).id", "duplicate device id \"\(id)\"; each device needs its own id")
                    ok = false
                }
                guard ok, let id, let site, let profile else { continue }
                if let external, let clash = devices.first(where: { $0.site.rawValue == site && ($0.id.rawValue == external || $0.externalID == external) }) {
                    context.report(d.value("external_id"), "\(path).external_id", "\"\(external)\" already names device \(clash.id) at site \(site); each name must pick one device")
                    continue
                }
                devices.append(Device(id: DeviceID(id), site: SiteID(site), profileID: profile, name: name, warrantyUntil: warranty, contract: contract,
                                      externalID: external))
            }
        }
        var mappings: [TopicMapping] = []
        if let nodes = r.sequence("mappings", required: false, "topic mappings (topic, metrics) for devices that publish their own JSON") {
            for (i, n) in nodes.enumerated() {
                guard let m = TopicMapping.read(n, path: "mappings[\(i)]", context: context, sites: sites, devices: devices, profiles: profiles) else { continue }
                if let earlier = mappings.first(where: { $0.topic == m.topic }) {
                    context.report(n, "mappings[\(i)].topic", "topic \"\(m.topic)\" is mapped twice (first at \(earlier.location)); merge the two entries")
                    continue
                }
                mappings.append(m)
            }
        }
        for key in simulatorKeys { _ = r.value(key) }
        r.finish()
        return Inventory(sites: sites, devices: devices, mappings: mappings, sourceFile: context.file)
    }

    static func readSite(_ node: Node, path: String, context: YAMLContext) -> Site? {
        guard var r = MappingReader(node, path: path, context: context, what: "a site") else { return nil }
        let id = r.identifier("id", "the site id used in MQTT topics, e.g. pumping-station-3")
        let name = r.string("name", "a human name for the site")
        let customer = r.string("customer", "the customer (organisation) the site belongs to")
        var latitude = r.number("latitude", "the latitude in decimal degrees, -90...90")
        var longitude = r.number("longitude", "the longitude in decimal degrees, -180...180")
        var timeZone = r.string("timezone", "an IANA time zone such as Asia/Shanghai")
        let tier = r.enumeration("tier", CustomerTier.self, required: false) ?? .standard
        let group = r.string("sparkplug_group", required: false, "the Sparkplug B group id of the site's edge nodes")
        r.finish()
        if let lat = latitude, !(-90...90).contains(lat) {
            context.report(r.value("latitude"), "\(path).latitude", "\(fmt(lat)) is outside -90...90; did you swap latitude and longitude?")
            latitude = nil
        }
        if let lon = longitude, !(-180...180).contains(lon) {
            context.report(r.value("longitude"), "\(path).longitude", "\(fmt(lon)) is outside -180...180; use decimal degrees")
            longitude = nil
        }
        if let tz = timeZone, TimeZone(identifier: tz) == nil || !tz.contains("/") && tz != "UTC" {
            context.report(r.value("timezone"), "\(path).timezone",
                           "\"\(tz)\" is not an IANA time zone; write Region/City, e.g. Asia/Shanghai or Europe/Berlin")
            timeZone = nil
        }
        guard let id, let name, let customer, let latitude, let longitude, let timeZone else { return nil }
        return Site(id: SiteID(id), name: name, customer: customer, latitude: latitude, longitude: longitude, timeZone: timeZone, tier: tier,
                    sparkplugGroup: group)
    }
}
