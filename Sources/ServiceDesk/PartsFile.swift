import FieldwatchCore
import Foundation
import Profiles
import Yams

/// The parts file `fieldwatch parts import` reads: the catalogue under `parts:` and the counted
/// stock under `stock:`. Mistakes are reported with file:line:column like profiles; a part the
/// profiles' fault catalogues need but the file lacks is named.
///
/// ```yaml
/// parts:
///   - {part: SKF-6309-2Z, name: Deep-groove ball bearing 6309-2Z, unit_cost: 185, supplier: SKF Shenzhen, lead_time: 5d, safety_stock: 2}
/// stock:
///   - {location: wh-shenzhen, kind: warehouse, part: SKF-6309-2Z, quantity: 6}
///   - {location: sp-nanshan, kind: service_point, part: SKF-6309-2Z, quantity: 2}
///   - {location: eng.chen, kind: van, part: SKF-6309-2Z, quantity: 1}     # a van: the engineer's id
/// ```
public enum PartsFile {
    public static let reference = "fieldwatch parts import --help"

    public static func load(file: String, profiles: [String: DeviceProfile] = [:]) throws(ProfileError) -> PartsCatalogue {
        try parse(try ProfileLoader.readText(file), file: file, profiles: profiles)
    }

    public static func parse(_ text: String, file: String, profiles: [String: DeviceProfile] = [:]) throws(ProfileError) -> PartsCatalogue {
        let context = YAMLContext(file: file, reference: reference)
        let catalogue = context.compose(text).flatMap { read($0, context: context, profiles: profiles) }
        guard context.issues.isEmpty, let catalogue else { throw ProfileError(issues: context.issues) }
        return catalogue
    }

    static func read(_ node: Node, context: YAMLContext, profiles: [String: DeviceProfile]) -> PartsCatalogue? {
        guard var r = MappingReader(node, path: "", context: context, what: "a parts file (parts, stock)") else { return nil }
        var parts: [Part] = []
        var numbers: Set<String> = []
        for (i, n) in (r.sequence("parts", "the catalogue (part, name, unit_cost, supplier, lead_time, safety_stock)") ?? []).enumerated() {
            let path = "parts[\(i)]"
            guard var pr = MappingReader(n, path: path, context: context, what: "a part") else { continue }
            let number = pr.string("part", "the part number, e.g. SKF-6309-2Z")
            let name = pr.string("name", "what the part is")
            let cost = pr.number("unit_cost", "the cost of one unit")
            let supplier = pr.string("supplier", required: false, "who it is bought from")
            let lead = pr.duration("lead_time", "days from order to delivery, e.g. 5d") ?? .seconds(7 * 86_400)
            let safety = pr.integer("safety_stock", required: false, "units kept in hand at least, company-wide") ?? 0
            pr.finish()
            if let number, !PartRequirement.isValidPartNumber(number) {
                context.report(pr.value("part"), "\(path).part", "\"\(number)\" is not a part number: upper-case letters, digits and - . / _")
                continue
            }
            if let cost, cost < 0 || !cost.isFinite { context.report(pr.value("unit_cost"), "\(path).unit_cost", "\(cost) is not a cost; give 0 or more") }
            if safety < 0 { context.report(pr.value("safety_stock"), "\(path).safety_stock", "\(safety) is negative") }
            if let number, numbers.contains(number) {
                context.report(pr.value("part"), "\(path).part", "\(number) is listed twice; keep one entry per part")
                continue
            }
            guard let number, let name, let cost, cost >= 0, cost.isFinite, safety >= 0 else { continue }
            numbers.insert(number)
            parts.append(Part(number: number, name: name, unitCost: cost, supplier: supplier, leadTimeDays: lead.secondsDouble / 86_400, safetyStock: safety))
        }
        var stock: [StockLevel] = []
        var seen: Set<String> = []
        for (i, n) in (r.sequence("stock", required: false, "what each location holds (location, kind, part, quantity)") ?? []).enumerated() {
            let path = "stock[\(i)]"
            guard var sr = MappingReader(n, path: path, context: context, what: "a stock line") else { continue }
            let location = sr.string("location", "a warehouse or service point id, or the engineer's id for a van")
            let kind = sr.enumeration("kind", StockLocationKind.self, required: true)
            let part = sr.string("part", "a part number of the catalogue above")
            let quantity = sr.integer("quantity", required: true, "units on hand")
            sr.finish()
            if let part, !numbers.contains(part) {
                context.report(sr.value("part"), "\(path).part", "\(part) is not in the catalogue\(didYouMean(part, Array(numbers))); add it under parts:")
                continue
            }
            if let quantity, quantity < 0 { context.report(sr.value("quantity"), "\(path).quantity", "\(quantity) is negative; stock on hand is 0 or more") }
            guard let location, let kind, let part, let quantity, quantity >= 0 else { continue }
            if !seen.insert("\(location)\u{0}\(part)").inserted {
                context.report(n, path, "\(part) at \(location) is listed twice; give one quantity per part and location")
                continue
            }
            stock.append(StockLevel(location: location, kind: kind, part: part, onHand: quantity))
        }
        r.finish()
        // Every part a fault needs must be in the catalogue: otherwise a repair cannot be priced or stocked.
        var needed: [String: [String]] = [:]
        for profile in profiles.values.sorted(by: { $0.id < $1.id }) {
            for fault in profile.faults { for p in fault.parts where !numbers.contains(p.part) { needed[p.part, default: []].append("\(profile.id) \(fault.code)") } }
        }
        if !needed.isEmpty {
            context.report(node, "parts", "missing from the catalogue but named by the profiles' fault catalogues: "
                + needed.keys.sorted().map { "\($0) (\(needed[$0]!.joined(separator: ", ")))" }.joined(separator: "; "))
        }
        return PartsCatalogue(parts: parts, stock: stock)
    }
}
