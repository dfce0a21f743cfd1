import FieldwatchCore
import FieldwatchTesting
import Foundation
import Testing

/// The field team and dispatch from the command line, on a real database file.
@Suite("Field team and dispatch from the command line", .serialized)
struct FieldCommandLineTests {
    func json(_ text: String) -> Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }

    @Test func importRankAssignAndLocateOnTheDemoTeam() async throws {
        let dir = try makeTemporaryDirectory()
        let db = dir.appendingPathComponent("fw.db").path
        let field = ["--db", db, "--inventory", "Simulator/demo.yaml", "--profiles", "DeviceProfiles"]
        // A jammed motor reported by phone at the Shenzhen pumping station: a mechanical and electrical fault.
        let (reported, reportText) = try await runTool("fieldwatch", [
            "tickets", "report", "--device", "pump-01", "--channel", "phone", "--reporter", "Mr Wang", "--description", "the motor hums and trips",
            "--fault", "MOTOR_OVERLOAD", "--stopped",
        ] + field)
        try #require(reported == 0, "\(reportText)")

        let (noTeam, noTeamText) = try await runTool("fieldwatch", ["dispatch", "suggest", "1"] + field)
        #expect(noTeam == 1 && noTeamText.contains("import one with `fieldwatch engineers import FILE`"), "\(noTeamText)")

        let (imported, importText) = try await runTool("fieldwatch", ["engineers", "import", "ServicePolicy/demo-team.yaml", "--db", db, "--by", "ops"])
        #expect(imported == 0 && importText.contains("12 added"), "\(importText)")
        let (_, again) = try await runTool("fieldwatch", ["engineers", "import", "ServicePolicy/demo-team.yaml", "--db", db])
        #expect(again.contains("no change (12 record(s) as stored)"), "\(again)")

        let listed = try #require(json(try await runTool("fieldwatch", ["engineers", "list", "--db", db, "--json"]).1) as? [[String: Any]])
        #expect(listed.compactMap { $0["id"] as? String }.contains("eng.chen") && listed.count == 8)

        let (_, suggestText) = try await runTool("fieldwatch", ["dispatch", "suggest", "1", "--json"] + field)
        let suggestion = try #require(json(suggestText) as? [String: Any], "\(suggestText)")
        let candidates = try #require(suggestion["candidates"] as? [[String: Any]])
        #expect(candidates.first?["engineer"] as? String == "eng.chen", "\(suggestText)")
        let excluded = (suggestion["excluded"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) { $0[$1["engineer"] as! String] = $1["why"] as? String }
        #expect(excluded["eng.wang"] == "lacks electrical" && excluded["eng.zhou"] == "lacks mechanical", "\(excluded)")
        let (_, readable) = try await runTool("fieldwatch", ["dispatch", "suggest", "1"] + field)
        #expect(readable.contains("ticket #1: needs electrical, mechanical") && readable.contains("1. eng.chen (Chen Jie): ETA"), "\(readable)")

        let plan = try #require(json(try await runTool("fieldwatch", ["dispatch", "plan", "--json"] + field).1) as? [String: Any])
        let planned = try #require(plan["assignments"] as? [[String: Any]], "\(plan)")
        #expect(planned.count == 1 && planned.first?["engineer"] as? String == "eng.chen" && planned.first?["ticket"] as? Int == 1, "\(plan)")
        let (noBy, noByText) = try await runTool("fieldwatch", ["dispatch", "plan", "--apply"] + field)
        #expect(noBy != 0 && noByText.contains("--apply needs --by NAME"), "\(noByText)")

        let (assigned, assignText) = try await runTool("fieldwatch", ["dispatch", "assign", "1", "--engineer", "eng.chen", "--by", "dispatch.zhao"] + field)
        #expect(assigned == 0 && assignText.contains("ticket #1 assigned to eng.chen by dispatch.zhao"), "\(assignText)")
        let (again2, againText) = try await runTool("fieldwatch", ["dispatch", "assign", "1", "--engineer", "eng.li", "--by", "dispatch.zhao"] + field)
        #expect(again2 == 1 && againText.contains("needs a reason (--reason)"), "\(againText)")
        let shown = try #require(json(try await runTool("fieldwatch", ["tickets", "show", "1", "--db", db, "--json"]).1) as? [String: Any])
        #expect((shown["ticket"] as? [String: Any])?["assignee"] as? String == "eng.chen")
        #expect((shown["timeline"] as? [[String: Any]])?.last?["action"] as? String == "ticket.assigned")

        // The visit: check in at the pumping station (the arrival), not fixed for want of a part,
        // the repair approved, fixed on the second visit; then the month's KPIs say so.
        for (step, who) in [("ack", "eng.chen"), ("contact", "eng.chen"), ("dispatch", "dispatch.zhao")] {
            let (status, text) = try await runTool("fieldwatch", ["tickets", step, "1", "--db", db, "--by", who])
            #expect(status == 0, "\(step): \(text)")
        }
        let (started, startText) = try await runTool("fieldwatch", ["visits", "start", "1", "--engineer", "eng.chen", "--lat", "22.5331", "--lon", "113.9306"] + field)
        #expect(started == 0 && startText.contains("visit #1 on ticket #1 by eng.chen: checked in, 24 m from the site; arrival recorded"), "\(startText)")
        let (notFixed, notFixedText) = try await runTool("fieldwatch", ["visits", "finish", "1", "--outcome", "not_fixed", "--reason", "missing_part",
                                                                         "--work", "motor bearing seized; no spare on the van", "--labour-hours", "1.5"] + field)
        #expect(notFixed == 0 && notFixedText.contains("stays open for the next visit"), "\(notFixedText)")
        _ = try await runTool("fieldwatch", ["tickets", "propose", "1", "--db", db, "--by", "eng.chen", "--diagnosis", "motor bearing seized",
                                             "--work", "replace the motor bearings", "--cost", "1200"])
        _ = try await runTool("fieldwatch", ["tickets", "approve", "1", "--db", db, "--by", "sup.liu"])
        let (_, second) = try await runTool("fieldwatch", ["visits", "start", "1", "--engineer", "eng.chen", "--lat", "22.5329", "--lon", "113.9305"] + field)
        #expect(second.contains("visit #2"), "\(second)")
        let (fixed, fixedText) = try await runTool("fieldwatch", ["visits", "finish", "2", "--outcome", "fixed", "--work", "replaced both motor bearings",
                                                                   "--labour-hours", "3", "--parts", "SKF-6309-2Z:2"] + field)
        #expect(fixed == 0 && fixedText.contains("ticket #1 resolved"), "\(fixedText)")
        let kpis = try #require(json(try await runTool("fieldwatch", ["kpis", "--db", db, "--json"]).1) as? [String: Any])
        let ftf = try #require((kpis["kpis"] as? [String: Any])?["first_time_fix_rate"] as? [String: Any], "\(kpis)")
        #expect(ftf["value"] as? Double == 0 && ftf["tickets"] as? Int == 1 && (ftf["not_fixed_reasons"] as? [String: Int]) == ["missing_part": 1], "\(ftf)")
        let (_, shownText) = try await runTool("fieldwatch", ["tickets", "show", "1", "--db", db])
        #expect(shownText.contains("engineer sent: eng.chen") && shownText.contains("not_fixed (missing_part): motor bearing seized; no spare on the van, 1.5 h")
                && shownText.contains("(at site, 24 m from the site)"), "\(shownText)")
        let costs = try #require(json(try await runTool("fieldwatch", ["report", "costs", "--json"] + field).1) as? [String: Any])
        let totals = try #require(costs["totals"] as? [String: Any], "\(costs)")
        let inWarranty = String(Timestamp.now().rfc3339.prefix(10)) <= "2027-06-30"
        #expect(totals["labour_hours"] as? Double == 4.5 && totals[inWarranty ? "warranty" : "billable"] as? Double == 810, "1.5 h + 3 h at 180: \(totals)")
        #expect(totals["unpriced_lines"] as? Int == 1, "the bearings are not priced without a parts catalogue")
        let (_, costText) = try await runTool("fieldwatch", ["report", "costs"] + field)
        #expect(costText.contains("per equipment model:") && costText.contains("centrifugal-pump"), "\(costText)")
        let (_, table) = try await runTool("fieldwatch", ["kpis", "--db", db])
        #expect(table.contains("First-time fix rate") && table.contains("0.0 % (0 of 1 tickets with a visit); not fixed: missing_part 1"), "\(table)")

        let (located, locateText) = try await runTool("fieldwatch", ["engineers", "locate", "eng.wang", "--lat", "22.533", "--lon", "113.931"] + field)
        #expect(located == 0, "\(locateText)")
        let (_, bad) = try await runTool("fieldwatch", ["engineers", "locate", "eng.wong", "--lat", "22.5", "--lon", "113.9"] + field)
        #expect(bad.contains("no active engineer \"eng.wong\" (did you mean \"eng.wang\"?)"), "\(bad)")

        // A broken file names the line, the field and the fix; nothing is imported.
        let broken = dir.appendingPathComponent("team.yaml").path
        try "engineers:\n  - {id: eng.x, name: X, home: {latitude: 22.5, longitude: 113.9}, skills: [plumbng]}\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let (brokenStatus, brokenText) = try await runTool("fieldwatch", ["engineers", "import", broken, "--db", db])
        #expect(brokenStatus != 0 && brokenText.contains("team.yaml:2:") && brokenText.contains("did you mean \"plumbing\"?"), "\(brokenText)")

        let (audit, auditText) = try await runTool("fieldwatch", ["audit", "verify", "--db", db])
        #expect(audit == 0 && auditText.contains("chain intact"), "\(auditText)")
        let (_, help) = try await runTool("fieldwatch", ["dispatch", "--help"])
        #expect(help.contains("Hard filters") && help.contains("partner providers"))
    }
}

@Suite("A simulated month of field work")
struct FieldMonthTests {
    @Test func aSimulatedMonthGoesThroughTheDeskAndItsReportsReadIt() async throws {
        let dir = try makeTemporaryDirectory()
        let db = dir.appendingPathComponent("month.db").path
        let (status, text) = try await runTool("fieldwatch-sim", ["field-month", "--db", db, "--fleet", "4", "--seed", "3"])
        #expect(status == 0, "\(text)")
        #expect(text.contains("field month 2026-11, 24 devices, replenishment predictive, seed 3") && text.contains("first-time fix"), "\(text)")
        // What it wrote is a desk like any other: the audit chain holds, the KPIs and the costs read it.
        let (verified, verifyText) = try await runTool("fieldwatch", ["audit", "verify", "--db", db])
        #expect(verified == 0, "\(verifyText)")
        let (_, kpis) = try await runTool("fieldwatch", ["kpis", "--db", db, "--month", "2026-11", "--json"])
        let figures = try #require((try JSONSerialization.jsonObject(with: Data(kpis.utf8)) as? [String: Any])?["kpis"] as? [String: Any])
        let ftf = try #require(figures["first_time_fix_rate"] as? [String: Any])
        #expect((ftf["tickets"] as? Int ?? 0) > 0 && ftf["value"] is Double, "\(ftf)")
        let html = dir.appendingPathComponent("month.html").path
        let (reported, reportText) = try await runTool("fieldwatch", ["report", "monthly", "--db", db, "--month", "2026-11", "--out", html,
                                                                      "--inventory", "Simulator/demo.yaml"])
        #expect(reported == 0, "\(reportText)")
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("id=\"cost-totals\"") && page.contains("billable") && !page.contains("not in the parts catalogue, unpriced"), "parts priced from the catalogue")
        // The same seed gives the same month.
        let again = dir.appendingPathComponent("again.db").path
        let (_, text2) = try await runTool("fieldwatch-sim", ["field-month", "--db", again, "--fleet", "4", "--seed", "3"])
        #expect(text2.components(separatedBy: "\n").filter { $0.contains("first-time fix") } == text.components(separatedBy: "\n").filter { $0.contains("first-time fix") })
        // It never writes over a database.
        let (refused, refusedText) = try await runTool("fieldwatch-sim", ["field-month", "--db", db])
        #expect(refused != 0 && refusedText.contains("exists; give a new file"))
    }
}
