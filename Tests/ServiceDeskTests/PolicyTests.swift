import FieldwatchCore
import FieldwatchTesting
import Foundation
import Profiles
import Testing
@testable import ServiceDesk

@Suite("Service policy: grading table and file validation")
struct PolicyTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var severity: Severity
        var criticality: Int
        var tier: CustomerTier
        var grade: Grade
        var testDescription: String { "\(severity) crit \(criticality) \(tier) → \(grade)" }
    }

    @Test(arguments: [
        Case(severity: .critical, criticality: 1, tier: .standard, grade: .urgent),
        Case(severity: .critical, criticality: 5, tier: .vip, grade: .urgent),
        Case(severity: .warning, criticality: 4, tier: .vip, grade: .urgent),
        Case(severity: .warning, criticality: 3, tier: .vip, grade: .general),
        Case(severity: .warning, criticality: 4, tier: .standard, grade: .general),
        Case(severity: .warning, criticality: 2, tier: .standard, grade: .minor),
        Case(severity: .warning, criticality: 1, tier: .vip, grade: .minor),
    ])
    func theDefaultGradingTable(_ c: Case) {
        #expect(ServicePolicy.default.grade(GradingFacts(severity: c.severity, criticality: c.criticality, tier: c.tier)) == c.grade)
    }

    @Test func theExampleFileIsTheBuiltInDefault() throws {
        let file = Fixtures.packageRoot().appendingPathComponent("ServicePolicy/example.yaml").path
        var loaded = try ServicePolicy.load(file: file)
        loaded.source = ServicePolicy.default.source
        #expect(loaded == ServicePolicy.default)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == ServicePolicy.defaultYAML)
    }

    @Test func theDemoPolicyIsValid() throws {
        let demo = try ServicePolicy.load(file: Fixtures.packageRoot().appendingPathComponent("ServicePolicy/demo.yaml").path)
        #expect(demo.targets(grade: .urgent, tier: .standard).firstContact == .seconds(120))
    }

    func issues(_ yaml: String) -> [String] {
        do {
            _ = try ServicePolicy.parse(yaml, file: "policy.yaml")
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func mistakesAreNamedWithLineAndFix() {
        let found = issues("""
            schema: 1
            calendars:
              office:
                hours:
                  mon-fri: [08:30-12:00, "13:00-12:00"]
                holidays: [2026-13-01]
                timezone: Mars/Olympus
            grading:
              - when: { severity: critcal }
                grade: urgent
              - when: { tier: vip }
                grade: general
            escalaton:
              warn_at: 0.8
            """)
        #expect(found.contains { $0.hasPrefix("policy.yaml:5:") && $0.contains("hours.mon-fri[1]") && $0.contains("HH:MM-HH:MM") })
        #expect(found.contains { $0.contains("holidays[0]") && $0.contains("2026-13-01") })
        #expect(found.contains { $0.contains("Mars/Olympus") && $0.contains("IANA") })
        #expect(found.contains { $0.contains("critcal") && $0.contains("did you mean \"critical\"") })
        #expect(found.contains { $0.contains("grading[1]") && $0.contains("last rule must match every fault") })
        #expect(found.contains { $0.contains("escalaton") && $0.contains("did you mean \"escalation\"") })
    }

    @Test func targetsMustNameADeclaredCalendarAndBePositive() {
        var yaml = "schema: 1\ntargets:\n"
        for g in ["urgent", "general", "minor"] {
            yaml += "  \(g):\n"
            for t in ["standard", "vip"] {
                yaml += "    \(t): { first_contact: 2h, on_site: \(g == "minor" ? "0s" : "24h"), resolution: 48h, calendar: \(g == "general" ? "ofice" : "round-the-clock") }\n"
            }
        }
        let found = issues(yaml)
        #expect(found.contains { $0.contains("targets.general.standard.calendar") && $0.contains("did you mean \"office\"") })
        #expect(found.contains { $0.contains("targets.minor.vip.on_site") && $0.contains("zero target") })
    }

    @Test func aCalendarWithNoWorkingTimeIsRefused() {
        let found = issues("schema: 1\ncalendars:\n  never:\n    hours: { mon: [] }\n")
        #expect(found.contains { $0.contains("no working time at all") })
    }
}

@Suite("Inputs make fuzz found")
struct FuzzRegressionTests {
    /// Tests/FuzzCrashes holds every input that crashed a fuzz target, as found; each must now
    /// be refused with a message (or accepted), never trap.
    @Test func everyFuzzCrashIsNowAClearError() throws {
        let dir = Fixtures.packageRoot().appendingPathComponent("Tests/FuzzCrashes")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(!files.isEmpty)
        for file in files where file.hasPrefix("policy-") {
            // As the fuzzer fed them: bytes, decoded leniently (a crash input need not be UTF-8).
            let text = String(decoding: try Data(contentsOf: dir.appendingPathComponent(file)), as: UTF8.self)
            do {
                _ = try ServicePolicy.parse(text, file: file)
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        let overflow = String(decoding: try Data(contentsOf: dir.appendingPathComponent("policy-duration-overflow.yaml")), as: UTF8.self)
        #expect(throws: (any Error).self) { try ServicePolicy.parse(overflow, file: "policy-duration-overflow.yaml") }
    }
}
