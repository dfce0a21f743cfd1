import FieldwatchCore
import FieldwatchTesting
import Foundation
import Testing
@testable import HTTPAPI
@testable import ServiceDesk
@testable import Storage
import TimeSeries

/// The dashboard in a real browser on records seeded by hand, for states the simulator cannot
/// reach (a device gone from the inventory, a forecast of a given lead); the pages on data the
/// real pipeline made are in GatewayTests/PipelineDashboardTests. Headless Chromium loads each
/// page from a running API server, lets its scripts fetch and render (virtual time), and the test
/// reads the resulting DOM. Screenshots (phone-sized) are kept in .build/browser-screenshots.
@Suite("Dashboard in headless Chromium", .serialized)
struct BrowserTests {
    /// Loads a page in headless Chromium and returns its DOM; any console message, uncaught
    /// exception, error shown or uncomputed value on the page fails the test.
    static func load(_ url: String, screenshot: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let page = try await Chromium.load(url, screenshot: screenshot)
        #expect(page.problems.isEmpty, "\(url): \(page.problems)", sourceLocation: sourceLocation)
        return page.dom
    }

    static func seeded() async throws -> (APIFixture, Ticket) {
        let api = try await APIFixture()
        let t = try api.openTicket()
        let now = Timestamp.now()
        for i in 0..<30 {
            _ = api.series.append(Sample(timestamp: now - .seconds(Int64(300 - i * 10)), value: 60 + Double(i)), to: SeriesKey(device: "pump-1", sensor: "bearing_temp"))
        }
        return (api, t)
    }

    @Test func theBoardShowsTicketsWithLiveCountdownsAndTiles() async throws {
        let (api, t) = try await Self.seeded()
        let dom = try await Self.load("http://127.0.0.1:\(api.port)/#/board?token=\(api.tokens["dispatcher"]!)")
        #expect(dom.contains("data-ticket=\"\(t.id)\""), "\(dom.prefix(3000))")
        #expect(dom.contains("Bearing 97 Cel above critical 95"))
        #expect(dom.contains("class=\"pill urgent\""))
        #expect(dom.range(of: #"class="countdown (ok|amber|red)"[^>]*>[^<]*(left|ago)<"#, options: .regularExpression) != nil, "a countdown is rendered")
        #expect(dom.contains("dispatch.zhao · dispatcher"))
        #expect(dom.range(of: #"<div class="n">1</div><div class="muted">Urgent</div>"#, options: .regularExpression) != nil)
        // KPI tiles against the brief's targets; what is not recorded yet says so.
        #expect(dom.contains("data-kpi=\"First contact, mean\"") && dom.contains("target ≤ 2 h"))
        #expect(dom.contains("data-kpi=\"First-time fix rate\"") && dom.contains("n/a"))
    }

    @Test func supervisorsSeeNotificationsSetAsideOnTheBoard() async throws {
        let (api, _) = try await Self.seeded()
        try api.store.registerDestination("webhook:https://erp.example.com/hook", since: Timestamp(milliseconds: 0))
        let message = try #require(try api.store.outbox().first)
        try api.store.recordDelivery(messageID: message.id, destination: "webhook:https://erp.example.com/hook", at: .now(),
                                     error: "HTTP 422: unknown site", nextAttempt: .now(), dead: true)
        let dom = try await Self.load("http://127.0.0.1:\(api.port)/#/board?token=\(api.tokens["supervisor"]!)")
        #expect(dom.contains("id=\"dead-notice\"") && dom.contains("could not be delivered to https://erp.example.com/hook"), "\(dom.prefix(3000))")
        #expect(dom.contains("HTTP 422: unknown site") && dom.contains("id=\"retry-dead\""))
        // A dispatcher is not shown it (nor allowed to read it).
        let dispatcher = try await Self.load("http://127.0.0.1:\(api.port)/#/board?token=\(api.tokens["dispatcher"]!)")
        #expect(!dispatcher.contains("dead-notice"))
    }

    @Test func aTicketPageShowsSimilarPastCasesToStaffOnly() async throws {
        let (api, t) = try await Self.seeded()
        let earlier = try api.openTicket("pump-h", site: "site-h")
        try api.store.writeSync { tx in
            try tx.saveCase(CaseRecord(source: "ticket", ticketID: earlier.id, model: "test-pump", faultCode: "BEARING_OVERTEMP", title: "Bearing overheating",
                                       diagnosis: "grease dried out", fix: "replaced the drive-end bearing", parts: "SKF-6309-2Z:1", labourHours: 3,
                                       repairMinutes: 240, outcome: "fixed on the first visit", signature: "threshold@bearing_temp",
                                       createdAt: .now(), updatedAt: .now()))
        }
        let dom = try await Self.load("http://127.0.0.1:\(api.port)/#/ticket/\(t.id)?token=\(api.tokens["dispatcher"]!)")
        #expect(dom.contains("Similar past cases") && dom.contains("data-case=") && dom.contains("bring SKF-6309-2Z:1"), "\(dom.prefix(3000))")
        #expect(dom.contains("same model and fault"))
        let customer = try await Self.load("http://127.0.0.1:\(api.port)/#/ticket/\(t.id)?token=\(api.tokens["customer"]!)")
        #expect(customer.contains("id=\"clocks\"") && !customer.contains("Similar past cases"))
    }

    @Test func aTicketPageShowsClocksTimelineActionsAndEvidence() async throws {
        let (api, t) = try await Self.seeded()
        let dom = try await Self.load("http://127.0.0.1:\(api.port)/#/ticket/\(t.id)?token=\(api.tokens["dispatcher"]!)")
        #expect(dom.contains("SLA clocks") && dom.contains("first contact"), "\(dom.prefix(3000))")
        #expect(dom.contains("ticket.opened"))
        #expect(dom.contains("data-action=\"acknowledge\"") && dom.contains("data-action=\"cancel\""))
        #expect(!dom.contains("data-action=\"arrive\""), "only steps possible now are offered")
        // An engineer may take it, but not cancel it.
        let engineer = try await Self.load("http://127.0.0.1:\(api.port)/#/ticket/\(t.id)?token=\(api.tokens["engineer"]!)")
        #expect(engineer.contains("data-action=\"acknowledge\"") && !engineer.contains("data-action=\"cancel\""))
    }

    @Test func aForecastTicketShowsItsPredictedCrossingOnTheBoardAndItsPage() async throws {
        let api = try await APIFixture()
        let t = try api.openTicket("pump-2", forecastHours: 16)
        let token = api.tokens["dispatcher"]!
        let board = try await Self.load("http://127.0.0.1:\(api.port)/#/board?token=\(token)")
        // The lead counts from now (the page's clock), with the band: 16 h ahead at the fit, a few seconds ago.
        #expect(board.range(of: #"class="pill forecast">limit in 1[56]h \d\dm \(12h \d\dm – (19|20)h \d\dm\)"#, options: .regularExpression) != nil,
                "\(board.prefix(3000))")
        let page = try await Self.load("http://127.0.0.1:\(api.port)/#/ticket/\(t.id)?token=\(token)")
        let dir = Fixtures.packageRoot().appendingPathComponent(".build/browser-screenshots")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        _ = try await Self.load("http://127.0.0.1:\(api.port)/#/ticket/\(t.id)?token=\(token)", screenshot: dir.appendingPathComponent("forecast-ticket.png").path)
        #expect(page.contains("id=\"forecast\"") && page.range(of: "Predicted to reach 95 Cel in 1[56]h", options: .regularExpression) != nil,
                "\(page.prefix(3000))")
        #expect(page.contains("(then in 16 h (12.8 h – 20 h))"))
        #expect(page.contains("fitted on 48 points"))
        // The API carries the same forecast.
        let reply = try await api.call("GET", "/api/v1/tickets/\(t.id)", as: "dispatcher")
        let forecast = (reply.object["ticket"] as? [String: Any])?["forecast"] as? [String: Any]
        #expect(reply.status == 200 && forecast?["hours_to_limit"] as? Double == 16 && forecast?["lead"] as? String == "in 16 h (12.8 h – 20 h)",
                "\(reply.text.prefix(800))")
    }

    @Test func sitesAndADevicePageDrawSparklinesChartsAndLimits() async throws {
        let (api, _) = try await Self.seeded()
        let sites = try await Self.load("http://127.0.0.1:\(api.port)/#/sites?token=\(api.tokens["admin"]!)")
        #expect(sites.contains("data-site=\"site-a\"") && sites.contains("data-device=\"pump-1\""), "\(sites.prefix(3000))")
        #expect(sites.contains("<polyline"), "a sparkline is drawn from the ring buffer")
        let device = try await Self.load("http://127.0.0.1:\(api.port)/#/device/pump-1?token=\(api.tokens["admin"]!)")
        #expect(device.contains("class=\"chart\"") && device.contains("critical 95"), "\(device.prefix(3000))")
    }

    @Test func aCustomerSeesOnlyItsOwnAndCanReport() async throws {
        let (api, _) = try await Self.seeded()
        let other = try api.openTicket("pump-h", site: "site-h")
        let board = try await Self.load("http://127.0.0.1:\(api.port)/#/board?token=\(api.tokens["customer"]!)")
        #expect(board.contains("wang · customer · Acme Build"), "\(board.prefix(3000))")
        #expect(!board.contains("data-ticket=\"\(other.id)\""))
        let report = try await Self.load("http://127.0.0.1:\(api.port)/#/report?token=\(api.tokens["customer"]!)")
        #expect(report.contains("id=\"report-form\"") && report.contains("value=\"pump-1\"") && !report.contains("value=\"pump-h\""))
        let ask = try await Self.load("http://127.0.0.1:\(api.port)/#/ask?token=\(api.tokens["customer"]!)")
        #expect(ask.contains("id=\"ask-form\"") && ask.contains("where is my ticket?"))
        let signIn = try await Self.load("http://127.0.0.1:\(api.port)/")
        #expect(signIn.contains("id=\"signin\""))
    }

    @Test func theMonthlyReportRendersKPIsChartsAndRanking() async throws {
        let (api, t) = try await Self.seeded()
        try api.workflow.perform(.acknowledge, ticketID: t.id, actor: "eng.chen", at: .now())
        try api.workflow.perform(.contact, ticketID: t.id, actor: "eng.chen", at: .now())
        let now = Timestamp.now()
        let period = (from: now - .seconds(86_400), to: now + .seconds(60))
        let kpis = ServiceKPIs.compute(try api.store.kpiRecords(from: period.from, to: period.to), from: period.from, to: period.to, now: now)
        let file = try makeTemporaryDirectory().appendingPathComponent("report.html")
        try MonthlyReport.html(kpis, month: "2026-11", timeZone: "UTC", generatedAt: now).write(to: file, atomically: true, encoding: .utf8)
        let dom = try await Self.load(file.absoluteString)
        #expect(dom.contains("id=\"kpis\"") && dom.contains("First contact, mean") && dom.contains("≤ 2 h"), "\(dom.prefix(2000))")
        #expect(dom.contains("<tr class=\"met\"><td>First contact, mean</td>"), "contact within a minute meets the 2 h target")
        #expect(dom.contains("First-time fix rate</td><td>no ticket resolved with a visit this month"))
        #expect(dom.contains("<rect") && dom.contains("test-pump · BEARING_OVERTEMP"), "the fault chart is drawn")
        #expect(dom.contains("<td>eng.chen</td>"), "the staff ranking names the owner")
        let shots = Fixtures.packageRoot().appendingPathComponent(".build/browser-screenshots")
        try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
        let png = shots.appendingPathComponent("monthly-report.png").path
        _ = try await Self.load(file.absoluteString, screenshot: png)
        #expect(((try? FileManager.default.attributesOfItem(atPath: png)[.size] as? Int) ?? 0) > 5_000)
    }

    @Test func phoneSizedScreenshotsAreTaken() async throws {
        let (api, t) = try await Self.seeded()
        let dir = Fixtures.packageRoot().appendingPathComponent(".build/browser-screenshots")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, path) in [("board", "#/board"), ("ticket", "#/ticket/\(t.id)"), ("sites", "#/sites")] {
            let file = dir.appendingPathComponent("\(name).png").path
            try? FileManager.default.removeItem(atPath: file)
            _ = try await Self.load("http://127.0.0.1:\(api.port)/\(path)?token=\(api.tokens["dispatcher"]!)", screenshot: file)
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            #expect(size > 5_000, "\(name).png is \(size) bytes")
        }
    }
}
