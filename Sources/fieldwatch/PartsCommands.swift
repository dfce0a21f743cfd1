import ArgumentParser
import FieldwatchCore
import Foundation
import Profiles
import ServiceDesk
import Storage

struct PartsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parts",
        abstract: "Spare parts: the catalogue and its prices, stock per location, and every movement of it.",
        discussion: """
            The parts file (YAML) has `parts:` (part, name, unit_cost, supplier, lead_time, \
            safety_stock) and `stock:` (location, kind: warehouse | service_point | van, part, \
            quantity; a van's location is the engineer's id); see ServicePolicy/demo-parts.yaml. \
            Every part a profile's fault catalogue names must be in it. Every movement is a \
            record, audited: receive, move, adjust (with a reason), and consume, which a visit's \
            finish does by itself for the parts it used (from the engineer's van, then their \
            service point, then the warehouses). Stock on hand never goes negative. Unit costs \
            price the parts lines of `fieldwatch report costs`.
            """,
        subcommands: [Import.self, Status.self, Replenish.self, Receive.self, Move.self, Adjust.self, History.self])

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the catalogue match a file and set the counted stock; audited, idempotent.",
            discussion: "Importing the same file again changes nothing. A stock count that differs is set with an `adjust` movement.")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "The parts file (YAML).") var file: String
        @Option(help: "Directory of device profiles whose fault catalogues' parts must be listed (default ./DeviceProfiles).") var profiles = "./DeviceProfiles"
        @Option(name: .customLong("by"), help: "Who imports it; recorded in the audit trail.") var actor = "import"

        func run() throws {
            let catalogue: PartsCatalogue
            do {
                let loaded = FileManager.default.fileExists(atPath: profiles) ? try ProfileLoader.load(paths: [profiles]) : [:]
                catalogue = try PartsFile.load(file: file, profiles: loaded)
            } catch {
                throw ValidationError("\(file) is not a valid parts file:\n\(error)")
            }
            let result = try SQLitePartsStore(location.open(create: true)).importCatalogue(catalogue, source: file, actor: actor, at: .now())
            if result.isEmpty {
                print("\(file): no change (\(result.unchanged) part(s) as stored, stock as counted)")
                return
            }
            print("\(file): \(result.added.count) part(s) added, \(result.updated.count) updated, \(result.deactivated.count) deactivated, "
                  + "\(result.unchanged) unchanged; \(result.counted.count) stock count(s) set")
            for (word, items) in [("added", result.added), ("updated", result.updated), ("deactivated", result.deactivated), ("counted", result.counted)] {
                for item in items { print("  \(word): \(item)") }
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stock per part and location: on hand, reserved, available, expected demand, reorder point, warnings.",
            discussion: """
                Predicted demand (company-wide, over the part's lead time) = the last 90 days' use \
                scaled to the lead time + the parts of open tickets not yet reserved, a predictive \
                ticket weighted by how often its detector's tickets on that model were real and by \
                whether its forecast crossing falls within the lead time. Reorder point = safety \
                stock + predicted demand. Warnings: none free at a location (all reserved, or none); available − predicted \
                demand below the safety stock (the zero-stock warning, before it runs out), naming \
                the tickets that would wait and their VIP customers.
                """)
        @OptionGroup var location: Tickets.Location
        @Option(help: "Directory of device profiles: the parts each fault needs (default ./DeviceProfiles).") var profiles = "./DeviceProfiles"
        @Flag(help: "Print JSON: {\"parts\": [{part, location, kind, on_hand, reserved, available, predicted_demand, reorder_point, warnings}]}.") var json = false

        func run() throws {
            let db = try location.open()
            let store = SQLitePartsStore(db)
            let loaded = (try? ProfileLoader.load(paths: [profiles])) ?? [:]
            let rows = PartsStatus.compute(parts: try store.parts(includeInactive: false), stock: try store.stock(),
                                           forecast: try PartForecast.load(store: db, profiles: loaded, now: .now()))
            if json {
                print(try encodeJSON(["parts": rows]))
                return
            }
            if rows.isEmpty { print("no stock recorded; `fieldwatch parts import FILE` loads the catalogue and the counts"); return }
            for r in rows {
                print("\(r.part.padding(toLength: 22, withPad: " ", startingAt: 0)) \(r.location.padding(toLength: 16, withPad: " ", startingAt: 0)) "
                      + "\(r.kind.padding(toLength: 13, withPad: " ", startingAt: 0)) on hand \(r.on_hand), reserved \(r.reserved), available \(r.available)"
                      + (r.warnings.isEmpty ? "" : "  ! " + r.warnings.joined(separator: "; ")))
            }
        }
    }

    struct Replenish: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What to order, where, how many and why: parts whose stock less the expected demand falls below the safety stock.",
            discussion: "Quantity: back to safety stock + predicted demand over the lead time. See `parts status --help` for the demand.")
        @OptionGroup var location: Tickets.Location
        @Option(help: "Directory of device profiles (default ./DeviceProfiles).") var profiles = "./DeviceProfiles"
        @Flag(help: "Print JSON: {\"orders\": [{part, location, quantity, why, tickets, vip}]}.") var json = false

        func run() throws {
            let db = try location.open()
            let loaded = (try? ProfileLoader.load(paths: [profiles])) ?? [:]
            let orders = ReplenishOrder.compute(try PartForecast.load(store: db, profiles: loaded, now: .now()), stock: try SQLitePartsStore(db).stock())
            if json {
                print(try encodeJSON(["orders": orders]))
                return
            }
            if orders.isEmpty { print("nothing to order: every part's stock covers its expected demand and safety stock"); return }
            for o in orders {
                print("order \(o.quantity) × \(o.part) to \(o.location)\(o.vip ? " (VIP waiting)" : ""): \(o.why)")
            }
        }
    }

    struct Receive: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record parts received into a location.")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "Part number.") var part: String
        @Option(help: "Units received.") var quantity: Int
        @Option(help: "Where they go.") var to: String
        @Option(help: "The location's kind when it is new: warehouse, service_point or van.") var kind: StockLocationKind?
        @Option(help: "Supplier delivery note or order number.") var reason: String?
        @Option(name: .customLong("by"), help: "Who records it.") var actor: String

        func run() throws {
            try PartsCommand.record(location, StockMovement(at: .now(), kind: .receive, part: part, quantity: quantity, to: to, actor: actor, reason: reason), kind)
        }
    }

    struct Move: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move parts between locations (a van restocked from the warehouse).")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "Part number.") var part: String
        @Option(help: "Units moved.") var quantity: Int
        @Option(help: "From where.") var from: String
        @Option(help: "To where.") var to: String
        @Option(help: "The destination's kind when it is new: warehouse, service_point or van.") var kind: StockLocationKind?
        @Option(name: .customLong("by"), help: "Who records it.") var actor: String

        func run() throws {
            try PartsCommand.record(location, StockMovement(at: .now(), kind: .move, part: part, quantity: quantity, from: from, to: to, actor: actor), kind)
        }
    }

    struct Adjust: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Correct a location's count (a stock-take, damage, loss), with a reason.")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "Part number.") var part: String
        @Option(name: .customLong("change"), help: "Units to add, or remove when negative (write --change=-2).") var change: Int
        @Option(name: .customLong("at"), help: "The location.") var place: String
        @Option(help: "Why: a count, damage, loss.") var reason: String
        @Option(help: "The location's kind when it is new.") var kind: StockLocationKind?
        @Option(name: .customLong("by"), help: "Who records it.") var actor: String

        func run() throws {
            guard change != 0 else { throw ValidationError("--change 0 changes nothing") }
            try PartsCommand.record(location, StockMovement(at: .now(), kind: .adjust, part: part, quantity: change, to: place, actor: actor, reason: reason), kind)
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every movement of stock (of one part), oldest first.")
        @OptionGroup var location: Tickets.Location
        @Argument(help: "Part number (default all).") var part: String?

        func run() throws {
            for m in try SQLitePartsStore(try location.open()).movements(part: part) {
                let place = [m.from.map { "from \($0)" }, m.to.map { "to \($0)" }].compactMap { $0 }.joined(separator: " ")
                print("#\(m.id) \(m.at.rfc3339) \(m.kind.rawValue) \(m.part) ×\(m.quantity) \(place)\(m.ticketID.map { " ticket #\($0)" } ?? "") by \(m.actor)"
                      + (m.reason.map { ": \($0)" } ?? ""))
            }
        }
    }

    static func record(_ location: Tickets.Location, _ movement: StockMovement, _ kind: StockLocationKind?) throws {
        do {
            let saved = try SQLitePartsStore(try location.open()).record(movement, kind: kind)
            print("movement #\(saved.id): \(saved.kind.rawValue) \(saved.part) ×\(saved.quantity)")
        } catch let error as StockError {
            throw ValidationError(error.message)
        }
    }
}

extension StockLocationKind: ExpressibleByArgument {}
