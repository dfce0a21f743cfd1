import FieldwatchCore
import Foundation
import Profiles
import Yams

/// The field-team file `fieldwatch engineers import` reads: top-level `engineers:`,
/// `service_points:` and `partners:`. Mistakes are reported with file:line:column, the field's
/// path and what to write instead, like profiles.
///
/// ```yaml
/// service_points:
///   - {id: sp-nanshan, name: Nanshan service point, latitude: 22.54, longitude: 113.94, radius_km: 60}
/// partners:
///   - id: pearl-river-mep
///     name: Pearl River M&E Services
///     skills: [mechanical, electrical, hvac]
///     response: 4h                     # committed time from call-out to engineer on site
///     service_points:
///       - {id: prm-foshan, name: Foshan depot, latitude: 23.02, longitude: 113.12, radius_km: 80}
/// engineers:
///   - id: eng.chen
///     name: Chen Jie
///     role: engineer                   # engineer, dispatcher, supervisor or management
///     service_point: sp-nanshan
///     home: {latitude: 22.55, longitude: 113.95}
///     skills:
///       - {skill: mechanical, certificate_until: 2027-06-30}
///       - electrical                   # no certificate to expire
///     shift: {hours: {mon-fri: [08:00-18:00], sat: [09:00-13:00]}, timezone: Asia/Shanghai}   # or `always`
///     max_jobs: 3
///     hourly_rate: 180
/// ```
public enum FieldTeamFile {
    public static let reference = "fieldwatch engineers import --help"

    public static func load(file: String) throws(ProfileError) -> FieldTeam {
        try parse(try ProfileLoader.readText(file), file: file)
    }

    public static func parse(_ text: String, file: String) throws(ProfileError) -> FieldTeam {
        let context = YAMLContext(file: file, reference: reference)
        let team = context.compose(text).flatMap { read($0, context: context) }
        guard context.issues.isEmpty, let team else { throw ProfileError(issues: context.issues) }
        return team
    }

    static func read(_ node: Node, context: YAMLContext) -> FieldTeam? {
        guard var r = MappingReader(node, path: "", context: context, what: "a field team (engineers, service_points, partners)") else { return nil }
        var ids: [String: String] = [:]
        func unique(_ id: String?, _ kind: String, _ node: Node?, _ path: String) -> Bool {
            guard let id else { return false }
            if let other = ids[id] {
                context.report(node, path, "\"\(id)\" is already the id of a \(other); every engineer, service point and partner needs its own id")
                return false
            }
            ids[id] = kind
            return true
        }
        var points: [ServicePoint] = []
        for (i, n) in (r.sequence("service_points", required: false, "the company's service points (id, name, latitude, longitude, radius_km)") ?? []).enumerated() {
            let path = "service_points[\(i)]"
            if let p = readServicePoint(n, path: path, partner: nil, context: context), unique(p.id, "service point", n, "\(path).id") { points.append(p) }
        }
        var partners: [Partner] = []
        for (i, n) in (r.sequence("partners", required: false, "partner providers (id, name, skills, response, service_points)") ?? []).enumerated() {
            let path = "partners[\(i)]"
            guard var pr = MappingReader(n, path: path, context: context, what: "a partner provider") else { continue }
            let id = pr.identifier("id", "the partner's id, e.g. pearl-river-mep")
            let name = pr.string("name", "the partner's name")
            let skills = readSkillNames(&pr, path: path, context: context)
            let response = pr.duration("response", "the committed time from call-out to engineer on site, e.g. 4h")
            if pr.value("response") == nil { context.report(n, "\(path).response", "missing; add `response:` with the partner's committed time to site, e.g. 4h") }
            var partnerPoints: [ServicePoint] = []
            for (j, pn) in (pr.sequence("service_points", "the partner's depots (id, name, latitude, longitude, radius_km)") ?? []).enumerated() {
                let ppath = "\(path).service_points[\(j)]"
                if let p = readServicePoint(pn, path: ppath, partner: id, context: context), unique(p.id, "service point", pn, "\(ppath).id") {
                    partnerPoints.append(p)
                }
            }
            pr.finish()
            if let response, response <= .zero { context.report(pr.value("response"), "\(path).response", "must be more than zero") }
            guard unique(id, "partner", n, "\(path).id"), let id, let name, let response, response > .zero else { continue }
            partners.append(Partner(id: id, name: name, skills: skills, servicePoints: partnerPoints,
                                    responseMinutes: Int((response.secondsDouble / 60).rounded(.up))))
        }
        var engineers: [Engineer] = []
        let pointIDs = points.map(\.id)
        for (i, n) in (r.sequence("engineers", "the service team (id, name, role, skills, service_point, home, shift, max_jobs, hourly_rate)") ?? []).enumerated() {
            let path = "engineers[\(i)]"
            guard var er = MappingReader(n, path: path, context: context, what: "an engineer") else { continue }
            let id = er.identifier("id", "the person's id, as their API token's subject, e.g. eng.chen")
            let name = er.string("name", "the person's name")
            let role = er.enumeration("role", FieldRole.self, required: false) ?? .engineer
            var servicePoint = er.string("service_point", required: false, "the id of the service point they work from")
            if let sp = servicePoint, !pointIDs.contains(sp) {
                context.report(er.value("service_point"), "\(path).service_point",
                               "no service point \"\(sp)\"\(didYouMean(sp, pointIDs)); declare it under service_points: (\(pointIDs.isEmpty ? "none yet" : pointIDs.joined(separator: ", ")))")
                servicePoint = nil
            }
            let home = er.required("home", "the home base, {latitude: …, longitude: …}").flatMap { readPoint($0, path: "\(path).home", context: context) }
            let skills = readHeldSkills(&er, path: path, context: context)
            var shift = Shift.always
            if let s = er.value("shift") {
                if let spec = ServicePolicy.readCalendar(s, path: "\(path).shift", context: context) {
                    shift = Shift(weekly: spec.weekly?.mapValues { $0.map { Shift.Window(start: $0.start, end: $0.end) } },
                                  holidays: Array(spec.holidays), timeZone: spec.timeZone)
                }
            }
            let maxJobs = er.integer("max_jobs", required: false, "open tickets assigned at once, at most") ?? 3
            let rate = er.number("hourly_rate", required: false, "labour cost per hour") ?? 0
            er.finish()
            if !(1...50).contains(maxJobs) { context.report(er.value("max_jobs"), "\(path).max_jobs", "\(maxJobs) is outside 1...50 open jobs at once") }
            if rate < 0 { context.report(er.value("hourly_rate"), "\(path).hourly_rate", "\(rate) is negative; give the labour cost per hour") }
            guard unique(id, "engineer", n, "\(path).id"), let id, let name, let home, (1...50).contains(maxJobs), rate >= 0 else { continue }
            engineers.append(Engineer(id: id, name: name, role: role, skills: skills, servicePoint: servicePoint, home: home, shift: shift,
                                      maxJobs: maxJobs, hourlyRate: rate))
        }
        r.finish()
        return FieldTeam(engineers: engineers, servicePoints: points, partners: partners)
    }

    static func readPoint(_ node: Node, path: String, context: YAMLContext) -> GeoPoint? {
        guard var r = MappingReader(node, path: path, context: context, what: "a position (latitude, longitude)") else { return nil }
        let lat = r.number("latitude", "decimal degrees, -90...90")
        let lon = r.number("longitude", "decimal degrees, -180...180")
        r.finish()
        if let lat, !(-90...90).contains(lat) { context.report(r.value("latitude"), "\(path).latitude", "\(lat) is outside -90...90; did you swap latitude and longitude?") }
        if let lon, !(-180...180).contains(lon) { context.report(r.value("longitude"), "\(path).longitude", "\(lon) is outside -180...180; use decimal degrees") }
        guard let lat, let lon, (-90...90).contains(lat), (-180...180).contains(lon) else { return nil }
        return GeoPoint(latitude: lat, longitude: lon)
    }

    static func readServicePoint(_ node: Node, path: String, partner: String?, context: YAMLContext) -> ServicePoint? {
        guard var r = MappingReader(node, path: path, context: context, what: "a service point (id, name, latitude, longitude, radius_km)") else { return nil }
        let id = r.identifier("id", "the service point's id, e.g. sp-nanshan")
        let name = r.string("name", "its name")
        let lat = r.number("latitude", "decimal degrees, -90...90")
        let lon = r.number("longitude", "decimal degrees, -180...180")
        let radius = r.number("radius_km", "the radius it covers, in km")
        r.finish()
        if let lat, !(-90...90).contains(lat) { context.report(r.value("latitude"), "\(path).latitude", "\(lat) is outside -90...90; did you swap latitude and longitude?") }
        if let lon, !(-180...180).contains(lon) { context.report(r.value("longitude"), "\(path).longitude", "\(lon) is outside -180...180; use decimal degrees") }
        if let radius, radius <= 0 { context.report(r.value("radius_km"), "\(path).radius_km", "\(radius) km covers nothing; give the radius it serves") }
        guard let id, let name, let lat, let lon, let radius, (-90...90).contains(lat), (-180...180).contains(lon), radius > 0 else { return nil }
        return ServicePoint(id: id, name: name, position: GeoPoint(latitude: lat, longitude: lon), radiusKilometres: radius, partner: partner)
    }

    static func knownSkill(_ skill: String, _ node: Node?, _ path: String, _ context: YAMLContext) -> Bool {
        guard Skills.all.contains(skill) else {
            context.report(node, path, "\"\(skill)\" is not a skill the fault catalogues use\(didYouMean(skill, Skills.all)); use one of \(Skills.all.joined(separator: ", "))")
            return false
        }
        return true
    }

    static func readSkillNames(_ r: inout MappingReader, path: String, context: YAMLContext) -> [String] {
        let node = r.value("skills")
        guard let list = r.stringList("skills", "the trades it covers") else {
            if node == nil { context.report(r.node, "\(path).skills", "missing; add `skills:` with the trades it covers, e.g. [mechanical, electrical]") }
            return []
        }
        var nodes: [Node] = []
        if case let .sequence(seq)? = node { nodes = Array(seq) }
        return list.enumerated().filter { knownSkill($0.element, nodes.indices.contains($0.offset) ? nodes[$0.offset] : node, "\(path).skills[\($0.offset)]", context) }
            .map(\.element)
    }

    static func readHeldSkills(_ r: inout MappingReader, path: String, context: YAMLContext) -> [HeldSkill] {
        guard let nodes = r.sequence("skills", "the trades they hold, each `skill` or `{skill: …, certificate_until: YYYY-MM-DD}`") else { return [] }
        var skills: [HeldSkill] = []
        for (i, n) in nodes.enumerated() {
            let spath = "\(path).skills[\(i)]"
            if case let .scalar(s) = n {
                if knownSkill(s.string, n, spath, context) { skills.append(HeldSkill(skill: s.string)) }
                continue
            }
            guard var sr = MappingReader(n, path: spath, context: context, what: "a skill with its certificate") else { continue }
            let skill = sr.string("skill", "the trade, e.g. mechanical")
            let until = sr.string("certificate_until", required: false, "the certificate's last valid day, YYYY-MM-DD")
            sr.finish()
            if let until, until.range(of: #"^\d{4}-\d\d-\d\d$"#, options: .regularExpression) == nil {
                context.report(sr.value("certificate_until"), "\(spath).certificate_until", "\"\(until)\" is not a date; write YYYY-MM-DD, e.g. 2027-06-30")
                continue
            }
            guard let skill, knownSkill(skill, sr.value("skill"), "\(spath).skill", context) else { continue }
            if skills.contains(where: { $0.skill == skill }) {
                context.report(n, spath, "\(skill) is listed twice; keep one entry with the newest certificate")
                continue
            }
            skills.append(HeldSkill(skill: skill, certificateUntil: until))
        }
        return skills.sorted { $0.skill < $1.skill }
    }
}
