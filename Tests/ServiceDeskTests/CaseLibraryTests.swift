import FieldwatchCore
import FieldwatchTesting
import Foundation
import Profiles
import Testing
@testable import ServiceDesk
@testable import Storage

@Suite("The case library")
struct CaseLibraryTests {
    static let site = GeoPoint(latitude: 22.5329, longitude: 113.9305)

    @Test func chineseIsIndexedByCharacterPairsAndWordsStayWords() {
        #expect(CaseRecord.terms("水泵跳闸了 Pump-1 tripped") == "水泵 泵跳 跳闸 闸了 pump 1 tripped")
        #expect(CaseRecord.terms("闸") == "闸")
    }

    func setUp() throws -> FieldOperations {
        let w = try makeWorkflow()
        let inventory = Inventory(sites: [Site(id: "site-std", name: "Pump station", customer: "Acme Build", latitude: Self.site.latitude,
                                               longitude: Self.site.longitude, timeZone: shanghai)],
                                  devices: [Device(id: "pump-1", site: "site-std", profileID: "pump"), Device(id: "pump-2", site: "site-std", profileID: "pump"),
                                            Device(id: "chiller-9", site: "site-std", profileID: "chiller")], sourceFile: "inventory.yaml")
        let ops = FieldOperations(workflow: w, team: SQLiteFieldTeamStore(w.store), inventory: inventory, profiles: [:])
        _ = try ops.importTeam(FieldTeam(engineers: [engineer("eng.chen", at: 5, skills: [])], servicePoints: [], partners: []), source: "team.yaml",
                               actor: "ops", at: .now() - .seconds(86_400 * 10))
        return ops
    }

    /// A fault of `device` fixed on one visit with `work` and `parts`.
    func fixed(_ ops: FieldOperations, _ device: DeviceID, _ fault: FaultCode, work: String, parts: String?, at: Timestamp) throws -> Ticket {
        let t = try open(ops.workflow, detection(device, site: "site-std", fault: fault, at: at))
        for (i, step) in [TicketAction.acknowledge, .contact, .dispatch].enumerated() {
            try ops.workflow.perform(step, ticketID: t.id, actor: "eng.chen", at: at + .seconds(Int64(60 * (i + 1))))
        }
        let v = try ops.startVisit(ticketID: t.id, engineer: "eng.chen", position: Self.site, at: at + .seconds(3600))
        _ = try ops.finishVisit(v.id, outcome: .fixed, reason: nil, work: work, labourHours: 2.5, parts: parts, at: at + .seconds(3 * 3600))
        return t
    }

    @Test func aFixedTicketBecomesACaseThatIsFoundAndSuggested() throws {
        let ops = try setUp()
        let store = ops.workflow.store
        let start = Timestamp.now() - .seconds(86_400 * 5)
        let bearing = try fixed(ops, "pump-1", "BEARING_OVERTEMP", work: "replaced the drive-end bearing, regreased", parts: "SKF-6309-2Z:1", at: start)
        let other = try fixed(ops, "chiller-9", "CONDENSER_PRESSURE_HIGH", work: "brushed the condenser tubes", parts: nil, at: start + .seconds(86_400))
        // Each fix made its case by itself.
        let cases = try store.cases()
        #expect(cases.map(\.ticketID) == [bearing.id, other.id])
        let first = try #require(cases.first)
        #expect(first.model == "pump" && first.faultCode == "BEARING_OVERTEMP" && first.fix == "replaced the drive-end bearing, regreased")
        #expect(first.parts == "SKF-6309-2Z:1" && first.labourHours == 2.5 && first.outcome == "fixed on the first visit" && first.repairMinutes == 180)
        #expect(first.signature == "threshold@bearing_temp")
        // A lesson in Chinese, audited, found by a two-character word.
        let library = CaseLibrary(store: store)
        _ = try library.setLesson(caseID: first.id, lesson: "轴承磨损时先查润滑脂，再换轴承", by: "eng.chen", at: .now())
        #expect(try store.auditRecords(ticketID: bearing.id).contains { $0.action == "case.lesson" })
        #expect(try store.searchCases("轴承").map(\.record.id) == [first.id])
        #expect(try store.searchCases("condenser tubes").first?.record.id == cases[1].id)
        #expect(try store.searchCases("regreased", model: "chiller").isEmpty, "filtered by model")
        // A new bearing fault on another pump: the bearing case comes first, said why.
        let fresh = try open(ops.workflow, detection("pump-2", site: "site-std", fault: "BEARING_OVERTEMP", at: .now() - .seconds(600)))
        let suggested = try library.suggest(ticketID: fresh.id)
        #expect(suggested.first?.ticket == bearing.id && suggested.first?.why.hasPrefix("same model and fault") == true, "\(suggested)")
        #expect(suggested.first?.parts == "SKF-6309-2Z:1" && suggested.first?.lesson?.contains("轴承") == true)
        // FAQ entries are cases too, and importing them twice changes nothing.
        let faq = try FAQ.load(file: Fixtures.packageRoot().appendingPathComponent("Assistant/faq.yaml").path)
        _ = try library.importFAQ(faq, at: .now())
        _ = try library.importFAQ(faq, at: .now())
        #expect(try store.cases().filter { $0.source == "faq" }.count == faq.entries.count)
        #expect(try store.searchCases("水泵跳闸了怎么复位").first?.record.source == "faq")
        // A rebuild refreshes, it does not duplicate.
        #expect(try library.rebuild(at: .now()) == 2 && store.cases().filter { $0.source == "ticket" }.count == 2)
    }

    @Test func theAssistantAnswersFromTheCustomersOwnPastRepairsOnly() throws {
        let ops = try setUp()
        let start = Timestamp.now() - .seconds(86_400 * 5)
        let mine = try fixed(ops, "pump-1", "BEARING_OVERTEMP", work: "replaced the drive-end bearing and regreased it", parts: "SKF-6309-2Z:1", at: start)
        let faq = FAQ(entries: [], source: "none")
        let assistant = Assistant(faq: faq, workflow: ops.workflow)
        let visible = try ops.workflow.store.tickets()
        let answer = try assistant.ask("what did you do about the drive-end bearing last time?", visible: visible, device: nil, actor: "customer:wang", at: .now())
        #expect(answer.intent == "case" && answer.answer.contains("ticket #\(mine.id)") && answer.answer.contains("regreased"), "\(answer)")
        // Someone else's repair is never read out: with no visible ticket, the question is handed over.
        let other = try assistant.ask("what did you do about the drive-end bearing last time?", visible: [], device: nil, actor: "customer:ho", at: .now())
        #expect(other.intent != "case" && !other.answer.contains("regreased"))
    }
}
