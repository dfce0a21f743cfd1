import FieldwatchCore
import Foundation
import Hummingbird
import Profiles
import ServiceDesk
import Storage
import TimeSeries

/// Sites, devices and their live telemetry from the ring buffers.
enum SiteRoutes {
    static let all: [RouteSpec] = [
        RouteSpec(method: .get, path: "/api/v1/sites", summary: "Sites the caller may see, with device and open-ticket counts.",
                  operation: .readSites, response: "Site[]") { request, context, env in
            let token = try context.caller()
            try Access.require(.readSites, token)
            let open = try env.store.tickets(openOnly: true).filter { !$0.drill }
            let sites = env.inventory.sites.filter { Access.canSee(siteCustomer: $0.customer, token) }.map { s in
                SiteView(id: s.id.rawValue, name: s.name, customer: s.customer, tier: s.tier.rawValue, timezone: s.timeZone, latitude: s.latitude,
                         longitude: s.longitude, devices: env.inventory.devices.filter { $0.site == s.id }.count,
                         open_tickets: open.filter { $0.site == s.id && Access.canSee($0, token) }.count)
            }
            return try respond(sites, request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/devices", summary: "Devices with status, last reading per sensor and open tickets.",
                  operation: .readSites, query: [("site", "only this site's devices")], response: "Device[]") { request, context, env in
            let token = try context.caller()
            try Access.require(.readSites, token)
            let site = request.query("site")
            let open = try env.store.tickets(openOnly: true).filter { !$0.drill }
            let customers = Dictionary(env.inventory.sites.map { ($0.id, $0.customer) }, uniquingKeysWith: { a, _ in a })
            let devices = env.inventory.devices.filter { d in
                (site == nil || d.site.rawValue == site) && Access.canSee(siteCustomer: customers[d.site] ?? "", token)
            }
            return try respond(devices.map { deviceView($0, env, open: open.filter { Access.canSee($0, token) }) }, request, context)
        },
        RouteSpec(method: .get, path: "/api/v1/devices/{id}/telemetry",
                  summary: "One sensor's samples from the in-memory ring buffer, with window statistics and limits.",
                  operation: .readSites,
                  query: [("sensor", "sensor key (required)"), ("from", "RFC 3339 start (default: 1 h before `to`)"), ("to", "RFC 3339 end (default: now)"),
                          ("step", "roll the window up into buckets of this length, such as 1m (min, max, mean, count per bucket); `samples` is then left empty")],
                  response: "Telemetry") { request, context, env in
            let token = try context.caller()
            try Access.require(.readSites, token)
            let deviceID = DeviceID(context.parameters.get("id") ?? "")
            guard let device = env.inventory.device(deviceID),
                  Access.canSee(siteCustomer: env.inventory.site(device.site)?.customer ?? "", token) else {
                throw APIError(.notFound, "not_found", "no device \"\(deviceID)\" that this token may see; GET /api/v1/devices lists them")
            }
            let profile = env.profiles[device.profileID]
            guard let sensorKey = request.query("sensor") else {
                let known = profile?.sensors.map(\.key.rawValue).joined(separator: ", ") ?? ""
                throw APIError(.unprocessableContent, "invalid", "give ?sensor=KEY; \(deviceID) has \(known)")
            }
            guard let sensor = profile?.sensor(SensorKey(sensorKey)) else {
                let known = profile?.sensors.map(\.key.rawValue) ?? []
                throw APIError(.notFound, "not_found", "\(deviceID) has no sensor \"\(sensorKey)\"; it has \(known.joined(separator: ", "))")
            }
            let to = try time(request.query("to"), "to", default: env.now())
            let from = try time(request.query("from"), "from", default: to - .seconds(3600))
            guard from <= to else { throw APIError(.unprocessableContent, "invalid", "from (\(from.rfc3339)) is after to (\(to.rfc3339))") }
            guard to - from <= Self.maxWindow else {
                throw APIError(.unprocessableContent, "invalid", "the window \(from.rfc3339) – \(to.rfc3339) is longer than 31 days; ask for a shorter one")
            }
            let key = SeriesKey(device: deviceID, sensor: sensor.key)
            let samples = env.series?.range(key, from: from, to: to) ?? []
            if request.query("step") == nil && samples.count > Self.maxRawSamples {
                throw APIError(.unprocessableContent, "invalid", """
                    the window holds \(samples.count) samples, more than \(Self.maxRawSamples) are returned one by one; \
                    add ?step=1m (or longer) for buckets, or narrow the window
                    """)
            }
            let values = samples.map(\.value)
            var rollup: [BucketView]?
            if let stepText = request.query("step") {
                guard let step = parseDuration(stepText), step >= .seconds(1) else {
                    throw APIError(.unprocessableContent, "invalid", "step \"\(stepText)\": give a duration of at least 1s, such as 30s, 1m or 1h")
                }
                let width = step.wholeMilliseconds
                guard (to.milliseconds - from.milliseconds) / width <= 10_000 else {
                    throw APIError(.unprocessableContent, "invalid", "step \(stepText) makes more than 10000 buckets in this window; use a longer step")
                }
                rollup = Rollup.buckets(samples, origin: from, widthMilliseconds: width).map {
                    BucketView(ts: $0.start.rfc3339, count: $0.count, min: $0.min, max: $0.max, mean: $0.mean)
                }
            }
            return try respond(TelemetryView(
                device: deviceID.rawValue, sensor: sensorKey, unit: sensor.unit, from: from.rfc3339, to: to.rfc3339,
                samples: rollup == nil ? samples.map(SampleView.init) : [], count: samples.count, min: values.min(),
                max: values.max(), mean: values.isEmpty ? nil : values.reduce(0, +) / Double(values.count),
                warning: sensor.limits?.warning, critical: sensor.limits?.critical, rollup: rollup), request, context)
        },
    ]

    /// The widest telemetry window, and the most samples returned one by one (beyond: buckets).
    static let maxWindow: Duration = .seconds(31 * 86_400)
    static let maxRawSamples = 20_000

    static func deviceView(_ d: Device, _ env: APIEnvironment, open: [Ticket]) -> DeviceView {
        let profile = env.profiles[d.profileID]
        let sensors = (profile?.sensors ?? []).map { s -> SensorView in
            let latest = env.series?.latest(SeriesKey(device: d.id, sensor: s.key))
            return SensorView(key: s.key.rawValue, unit: s.unit, latest: latest.map(SampleView.init),
                              warning: s.limits?.warning, critical: s.limits?.critical)
        }
        let lastSeen = sensors.compactMap { $0.latest.flatMap { Timestamp(rfc3339: $0.ts) } }.max()
        let openCount = open.filter { $0.device == d.id }.count
        let status: String
        if openCount > 0 { status = "fault" } else if let lastSeen { status = env.now() - lastSeen > .seconds(600) ? "silent" : "ok" } else { status = "unknown" }
        return DeviceView(id: d.id.rawValue, site: d.site.rawValue, profile: d.profileID, name: d.name, criticality: profile?.criticality ?? 3,
                          status: status, last_seen: lastSeen?.rfc3339, open_tickets: openCount, sensors: sensors)
    }
}
