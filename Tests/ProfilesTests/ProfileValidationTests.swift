import FieldwatchCore
import FieldwatchTesting
import Foundation
import Testing
@testable import Profiles

/// A valid profile with one sensor; each error fixture below changes one line of it.
let base = """
    schema: 1
    id: pump
    version: 1
    name: Pump
    category: pump
    sensors:
      - key: bearing_temp
        name: Bearing temperature
        unit: Cel
        range: { min: -20, max: 150 }
        limits:
          direction: above
          warning: 80
          critical: 95
          clear: 75
          min_duration: 30s
    """

/// Every issue the loader reports for `text`, as `file:line:column: path: message` lines.
func issues(_ text: String, file: String = "pump.yaml") -> [String] {
    do {
        _ = try ProfileLoader.parse(text, file: file)
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

/// One mistake made in a valid fixture, and exactly what the loader must say about it.
struct Mistake: Sendable, CustomTestStringConvertible {
    var name: String
    var from: String
    var to: String
    var expected: [String]
    var testDescription: String { name }
}

@Suite("Profile validation")
struct ProfileValidationTests {
    @Test func validProfileParses() throws {
        let p = try ProfileLoader.parse(base, file: "pump.yaml")
        #expect(p.id == "pump" && p.version == 1 && p.criticality == 3)
        let s = try #require(p.sensor("bearing_temp"))
        #expect(s.unit == "Cel" && s.validRange == -20...150)
        #expect(s.limits == LimitSpec(direction: .above, warning: 80, critical: 95, clear: 75, minDuration: .seconds(30),
                                      faultCode: "BEARING_TEMP_HIGH"))
    }

    @Test func defaultsForClearAndDuration() throws {
        let text = base.replacingOccurrences(of: "      clear: 75\n", with: "").replacingOccurrences(of: "\n      min_duration: 30s", with: "")
        let limits = try #require(try ProfileLoader.parse(text, file: "pump.yaml").sensors[0].limits)
        #expect(limits.clear == 80 - 170 * 0.02)
        #expect(limits.minDuration == LimitSpec.defaultMinDuration)
    }

    static let mistakes: [Mistake] = [
        Mistake(name: "range min above max", from: "range: { min: -20, max: 150 }", to: "range: { min: 40, max: 12 }",
                expected: ["pump.yaml:10:28: sensors[0].range.max: 12 is not above range.min (40); swap them or fix the units"]),
        Mistake(name: "warning beyond critical", from: "warning: 80", to: "warning: 99",
                expected: ["pump.yaml:13:16: sensors[0].limits.warning: warning (99) is not below critical (95) for values bad when above; a warning must come before the critical limit"]),
        Mistake(name: "unknown unit", from: "unit: Cel", to: "unit: cel",
                expected: ["pump.yaml:9:11: sensors[0].unit: unknown unit \"cel\" (did you mean \"Cel\"?); use a SenML/UCUM code (Cel, K, mm/s, A, V, bar, kPa, %, m3/h, ...)"]),
        Mistake(name: "unknown field", from: "    name: Bearing temperature", to: "    nmae: Bearing temperature",
                expected: ["pump.yaml:7:5: sensors[0].name: missing; add `name:` with a human name for the sensor",
                           "pump.yaml:8:5: sensors[0].nmae: unknown field (did you mean \"name\"?); remove it or check the spelling in DeviceProfiles/README.md"]),
        Mistake(name: "wrong type", from: "critical: 95", to: "critical: high",
                expected: ["pump.yaml:14:17: sensors[0].limits.critical: expected a number (the critical limit), found \"high\""]),
        Mistake(name: "negative duration", from: "min_duration: 30s", to: "min_duration: -5s",
                expected: ["pump.yaml:16:21: sensors[0].limits.min_duration: duration -5s is negative; durations count forward from zero"]),
        Mistake(name: "clear on the wrong side", from: "clear: 75", to: "clear: 85",
                expected: ["pump.yaml:15:14: sensors[0].limits.clear: clear level (85) must be on the safe side of warning (80) so the fault can clear; set it below that limit"]),
        Mistake(name: "bad direction", from: "direction: above", to: "direction: up",
                expected: ["pump.yaml:12:18: sensors[0].limits.direction: \"up\" is not allowed; use one of above, below"]),
        Mistake(name: "limit outside the valid range", from: "critical: 95", to: "critical: 200",
                expected: ["pump.yaml:14:17: sensors[0].limits.critical: 200 is outside the valid range -20...150; it could never be reached"]),
        Mistake(name: "YAML syntax error", from: "name: Pump\n", to: "name: [Pump\n",
                expected: ["pump.yaml:5:9: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at line 4, column 7); fix the indentation, brackets or quoting"]),
        Mistake(name: "unsupported schema", from: "schema: 1", to: "schema: 2",
                expected: ["pump.yaml:1:9: schema: schema 2 is not supported; this Fieldwatch reads schema 1"]),
        Mistake(name: "id not usable in topics", from: "id: pump", to: "id: my/pump",
                expected: ["pump.yaml:2:5: id: \"my/pump\" is not a valid id; use letters, digits, '-', '_' or '.' only (it becomes part of MQTT topics)"]),
    ]

    @Test(arguments: mistakes)
    func mistakeIsReportedExactly(_ m: Mistake) {
        #expect(base.contains(m.from), "fixture does not contain \(m.from)")
        #expect(issues(base.replacingOccurrences(of: m.from, with: m.to)) == m.expected)
    }

    @Test func everyErrorIsListedNotJustTheFirst() {
        let text = base.replacingOccurrences(of: "unit: Cel", with: "unit: degC")
            .replacingOccurrences(of: "warning: 80", with: "warning: 99")
            .replacingOccurrences(of: "version: 1", with: "version: 0")
        #expect(issues(text).count == 3)
    }

    @Test func duplicateSensorKey() {
        let text = base + """

              - key: bearing_temp
                name: Second
                unit: Cel
                range: { min: 0, max: 1 }
            """
        #expect(issues(text) == ["pump.yaml:17:5: sensors[1].key: duplicate sensor key \"bearing_temp\" (first at sensors[0]); each sensor needs its own key"])
    }

    @Test func shippedProfilesAreValid() throws {
        let dir = Fixtures.packageRoot().appendingPathComponent("DeviceProfiles").path
        let profiles = try ProfileLoader.load(paths: [dir])
        #expect(profiles["centrifugal-pump"] != nil)
        for p in profiles.values { #expect(!p.sensors.isEmpty) }
        let demo = Fixtures.packageRoot().appendingPathComponent("Simulator/demo-site.yaml").path
        #expect(try Inventory.load(file: demo, profiles: profiles).devices.count >= 1)
    }

    @Test func duplicateProfileIdsAcrossFiles() throws {
        let dir = try makeTemporaryDirectory()
        try base.write(to: dir.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try base.write(to: dir.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        #expect(throws: ProfileError.self) { try ProfileLoader.load(paths: [dir.path]) }
        do {
            _ = try ProfileLoader.load(paths: [dir.path])
        } catch {
            #expect(error.issues.map(\.description) == ["\(dir.path)/b.yaml:1:1: id: profile id \"pump\" is already defined in \(dir.path)/a.yaml; give each profile its own id"])
        }
    }

    @Test(arguments: [("30s", 30_000), ("250ms", 250), ("5m", 300_000), ("2h", 7_200_000), ("1.5", 1_500), ("1d", 86_400_000)] as [(String, Int64)])
    func durations(_ text: String, _ ms: Int64) {
        #expect(parseDuration(text)?.wholeMilliseconds == ms)
    }

    /// Found by `make fuzz` (policy target): a duration too large for milliseconds trapped.
    @Test(arguments: ["411111111111111111111111111111111111111111111111111111118h", "1e300s", "9223372036854775807ms", "-1e30d", "101d" + "00000", "inf", "nan"])
    func absurdDurationsAreRefusedNotTrapped(_ text: String) {
        #expect(parseDuration(text) == nil)
    }
}

@Suite("Inventory validation")
struct InventoryTests {
    let profiles = ["test-pump": try! ProfileLoader.parse(Fixtures.pumpProfile, file: "test-pump.yaml")]

    func issues(_ text: String) -> [String] {
        do {
            _ = try Inventory.parse(text, file: "site.yaml", profiles: profiles)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func fixtureInventoryIsValid() throws {
        let inv = try Inventory.parse(Fixtures.inventory, file: "site.yaml", profiles: profiles)
        #expect(inv.sites.map(\.id) == ["site-a"])
        #expect(inv.devices.map(\.id) == ["pump-1", "pump-2"])
        #expect(inv.sites[0].timeZone == "Asia/Shanghai")
    }

    @Test func unknownSiteAndProfile() {
        let text = Fixtures.inventory
            .replacingOccurrences(of: "    site: site-a\n    profile: test-pump\n  - id: pump-2", with: "    site: site-b\n    profile: test-pump\n  - id: pump-2")
            .replacingOccurrences(of: "profile: test-pump\n", with: "profile: test-pmp\n")
        #expect(issues(text) == [
            "site.yaml:10:11: devices[0].site: unknown site \"site-b\" (did you mean \"site-a\"?); add it under sites: or fix the id",
            "site.yaml:11:14: devices[0].profile: unknown profile \"test-pmp\" (did you mean \"test-pump\"?); known profiles: test-pump",
        ])
    }

    @Test func badCoordinatesAndTimeZone() {
        let text = Fixtures.inventory
            .replacingOccurrences(of: "latitude: 22.5", with: "latitude: 113.9")
            .replacingOccurrences(of: "timezone: Asia/Shanghai", with: "timezone: CST")
        #expect(issues(text) == [
            "site.yaml:5:15: sites[0].latitude: 113.9 is outside -90...90; did you swap latitude and longitude?",
            "site.yaml:7:15: sites[0].timezone: \"CST\" is not an IANA time zone; write Region/City, e.g. Asia/Shanghai or Europe/Berlin",
        ])
    }

    @Test func duplicateDeviceAndMissingField() {
        let text = Fixtures.inventory.replacingOccurrences(of: "id: pump-2", with: "id: pump-1")
            .replacingOccurrences(of: "    customer: ACME Water\n", with: "")
        #expect(issues(text) == [
            "site.yaml:2:5: sites[0].customer: missing; add `customer:` with the customer (organisation) the site belongs to",
            "site.yaml:11:5: devices[1].id: duplicate device id \"pump-1\"; each device needs its own id",
        ])
    }
}
