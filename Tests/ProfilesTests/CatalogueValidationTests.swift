import FieldwatchCore
import FieldwatchTesting
import Foundation
import Testing
@testable import Profiles

/// A valid profile with a fault catalogue and a declared detector; each mistake changes it.
let catalogueBase = """
    schema: 1
    id: fan
    version: 2
    name: Fan
    category: ventilation
    sensors:
      - key: vibration_rms
        name: Vibration
        unit: mm/s
        range: { min: 0, max: 50 }
        period: 10s
        stale_after: 30s
        limits: { direction: above, warning: 7.1, critical: 9.0, fault: FAN_VIBRATION_HIGH }
      - key: hours
        name: Hours
        unit: h
        kind: counter
        range: { min: 0, max: 1000000 }
    detectors:
      - sensor: vibration_rms
        type: threshold
    faults:
      - code: FAN_VIBRATION_HIGH
        name: Fan vibration high
        component: impeller
        grade: urgent
        symptoms: [noise]
        actions: [balance the impeller]
        skills: [mechanical]
        parts:
          - { part: SKF-6316-C3, quantity: 2 }
        repair_time: 6h
    """

func catalogueIssues(_ text: String) -> [String] { issues(text, file: "fan.yaml") }

@Suite("Profile schema: detectors and fault catalogue")
struct CatalogueValidationTests {
    @Test func validCatalogueParses() throws {
        let p = try ProfileLoader.parse(catalogueBase, file: "fan.yaml")
        let fault = try #require(p.fault("FAN_VIBRATION_HIGH"))
        #expect(fault == FaultSpec(code: "FAN_VIBRATION_HIGH", name: "Fan vibration high", component: "impeller", grade: .urgent,
                                   symptoms: ["noise"], actions: ["balance the impeller"], skills: ["mechanical"],
                                   parts: [PartRequirement(part: "SKF-6316-C3", quantity: 2)], repairTime: .seconds(6 * 3600)))
        let vib = try #require(p.sensor("vibration_rms"))
        #expect(vib.kind == .gauge && vib.period == .seconds(10) && vib.staleAfter == .seconds(30))
        #expect(p.sensor("hours")?.kind == .counter)
        #expect(p.detectors == [DetectorSpec(sensor: "vibration_rms", type: .threshold)])
        #expect(p.effectiveDetectors.map(\.sensor) == ["vibration_rms"])
    }

    @Test func staleAfterDefaultsToThreePeriods() throws {
        let p = try ProfileLoader.parse(catalogueBase.replacingOccurrences(of: "    stale_after: 30s\n", with: ""), file: "fan.yaml")
        #expect(p.sensor("vibration_rms")?.staleAfter == .seconds(30))
        #expect(p.sensor("hours")?.staleAfter == nil)
    }

    @Test func sensorsWithLimitsGetADefaultThresholdDetector() throws {
        let text = catalogueBase.replacingOccurrences(of: "detectors:\n  - sensor: vibration_rms\n    type: threshold\n", with: "")
        let p = try ProfileLoader.parse(text, file: "fan.yaml")
        #expect(p.detectors.isEmpty)
        #expect(p.effectiveDetectors == [DetectorSpec(sensor: "vibration_rms", type: .threshold), DetectorSpec(sensor: "vibration_rms", type: .forecast),
                                         DetectorSpec(sensor: "vibration_rms", type: .flatline)], "a reporting gauge with limits is also watched for sticking")
    }

    static let mistakes: [Mistake] = [
        Mistake(name: "detector on a missing sensor", from: "  - sensor: vibration_rms\n    type", to: "  - sensor: vibration\n    type",
                expected: ["fan.yaml:20:13: detectors[0].sensor: no sensor \"vibration\" in this profile (did you mean \"vibration_rms\"?); detectors watch one of: vibration_rms, hours"]),
        Mistake(name: "threshold detector on a sensor without limits", from: "  - sensor: vibration_rms\n    type", to: "  - sensor: hours\n    type",
                expected: ["fan.yaml:21:11: detectors[0].type: a threshold detector needs limits, and sensor \"hours\" has none; add `limits:` to the sensor or remove the detector"]),
        Mistake(name: "forecast detector on a sensor without limits", from: "  - sensor: vibration_rms\n    type: threshold", to: "  - sensor: hours\n    type: forecast",
                expected: ["fan.yaml:21:11: detectors[0].type: a forecast detector needs limits, and sensor \"hours\" has none; add `limits:` to the sensor or remove the detector"]),
        Mistake(name: "forecast confidence out of range", from: "    type: threshold", to: "    type: forecast\n    parameters: {confidence: 1.5}",
                expected: ["fan.yaml:22:17: detectors[0].parameters.confidence: 1.5 is not between 0.5 and 0.99; it is the share of likely crossing times the band covers"]),
        Mistake(name: "forecast window too short", from: "    type: threshold", to: "    type: forecast\n    parameters: {window: 30, horizon: 3600}",
                expected: ["fan.yaml:22:17: detectors[0].parameters.window: 30.0 s is too short; a trend needs at least 60 s (typically hours) to mean anything"]),
        Mistake(name: "rate of change without a rate", from: "    type: threshold", to: "    type: rate_of_change",
                expected: ["fan.yaml:21:11: detectors[0].parameters: a rate_of_change detector needs max_rise, max_fall or both (unit per minute) in its parameters"]),
        Mistake(name: "a behaviour detector's fault outside the catalogue", from: "    type: threshold", to: "    type: anomaly\n    fault: FAN_WOBBLE",
                expected: ["fan.yaml:22:12: detectors[0].fault: fault \"FAN_WOBBLE\" is not in this profile's faults; add it under faults: or fix the code"]),
        Mistake(name: "a fault on a limit detector", from: "    type: threshold", to: "    type: threshold\n    fault: FAN_VIBRATION_HIGH",
                expected: ["fan.yaml:22:12: detectors[0].fault: a threshold detector reports the fault of the sensor's limits; remove `fault:` or set it on the sensor's limits"]),
        Mistake(name: "a rule with one sensor", from: "faults:\n", to: "rules:\n  - {fault: FAN_VIBRATION_HIGH, sensors: [vibration_rms]}\nfaults:\n",
                expected: ["fan.yaml:23:42: rules[0].sensors: a rule needs two or more sensors; one sensor is a detector's job"]),
        Mistake(name: "a rule on a missing sensor", from: "faults:\n", to: "rules:\n  - {fault: FAN_VIBRATION_HIGH, sensors: [vibration_rms, hour]}\nfaults:\n",
                expected: ["fan.yaml:23:42: rules[0].sensors[1]: no sensor \"hour\" in this profile (did you mean \"hours\"?); rules combine some of: vibration_rms, hours"]),
        Mistake(name: "a rule's fault outside the catalogue", from: "faults:\n", to: "rules:\n  - {fault: FAN_WEAR, sensors: [vibration_rms, hours]}\nfaults:\n",
                expected: ["fan.yaml:23:13: rules[0].fault: fault \"FAN_WEAR\" is not in this profile's faults; add it under faults: or fix the code"]),
        Mistake(name: "a feature derived from a counter", from: "    range: { min: 0, max: 1000000 }\n",
                to: "    range: { min: 0, max: 1000000 }\n    derived: { from: hours, feature: rms }\n",
                expected: ["fan.yaml:19:14: sensors[1].derived.from: \"hours\" is a counter, not a waveform; features are computed from blocks of raw samples (kind: waveform)"]),
        Mistake(name: "limits on a waveform", from: "    kind: counter\n",
                to: "    kind: waveform\n    limits: { direction: above, warning: 1, critical: 2, fault: FAN_VIBRATION_HIGH }\n",
                expected: ["fan.yaml:18:13: sensors[1].limits: a waveform sensor carries raw blocks and has no limits; put limits on a sensor derived from it (derived: {from: hours, feature: rms})"]),
        Mistake(name: "a detector on a waveform", from: "    kind: counter\n    range: { min: 0, max: 1000000 }\ndetectors:\n  - sensor: vibration_rms",
                to: "    kind: waveform\n    range: { min: -10, max: 10 }\ndetectors:\n  - sensor: hours",
                expected: ["fan.yaml:20:13: detectors[0].sensor: \"hours\" is a waveform (raw blocks); put the detector on a sensor derived from it (derived: {from: hours, feature: rms})"]),
        Mistake(name: "unknown detector type", from: "type: threshold", to: "type: thresold",
                expected: ["fan.yaml:21:11: detectors[0].type: \"thresold\" is not allowed; use one of threshold, flatline, forecast, rate_of_change, change_point, anomaly (did you mean \"threshold\"?)"]),
        Mistake(name: "limit names a fault missing from the catalogue", from: "fault: FAN_VIBRATION_HIGH }", to: "fault: FAN_VIBRATION }",
                expected: ["fan.yaml:13:69: sensors[0].limits.fault: fault \"FAN_VIBRATION\" is not in this profile's faults (did you mean \"FAN_VIBRATION_HIGH\"?); add it under faults: or fix the code"]),
        Mistake(name: "unknown skill", from: "skills: [mechanical]", to: "skills: [mechanic]",
                expected: ["fan.yaml:29:14: faults[0].skills[0]: unknown skill \"mechanic\" (did you mean \"mechanical\"?); use one of mechanical, electrical, instrumentation, controls, hvac, refrigeration, plumbing, elevator, high_voltage, diesel, welding, civil"]),
        Mistake(name: "bad part number", from: "part: SKF-6316-C3", to: "part: skf 6316",
                expected: ["fan.yaml:31:17: faults[0].parts[0].part: \"skf 6316\" is not a part number; use upper-case letters, digits and - . / _ (e.g. SKF-6309-2Z)"]),
        Mistake(name: "zero quantity", from: "quantity: 2", to: "quantity: 0",
                expected: ["fan.yaml:31:40: faults[0].parts[0].quantity: 0 is not a quantity; a repair uses at least 1"]),
        Mistake(name: "negative repair time", from: "repair_time: 6h", to: "repair_time: -6h",
                expected: ["fan.yaml:32:18: faults[0].repair_time: duration -6h is negative; durations count forward from zero"]),
        Mistake(name: "bad fault code", from: "  - code: FAN_VIBRATION_HIGH", to: "  - code: fan-vibration",
                expected: ["fan.yaml:23:11: faults[0].code: \"fan-vibration\" is not a fault code; use upper-case letters, digits and '_', starting with a letter (e.g. BEARING_WEAR)"]),
        Mistake(name: "unknown grade", from: "grade: urgent", to: "grade: high",
                expected: ["fan.yaml:26:12: faults[0].grade: \"high\" is not allowed; use one of minor, general, urgent"]),
        Mistake(name: "stale_after shorter than the period", from: "stale_after: 30s", to: "stale_after: 5s",
                expected: ["fan.yaml:12:18: sensors[0].stale_after: stale_after (5s) is shorter than the reporting period (10s); every reading would arrive stale. Make it at least the period, typically three"]),
        Mistake(name: "unknown sensor kind", from: "kind: counter", to: "kind: total",
                expected: ["fan.yaml:17:11: sensors[1].kind: \"total\" is not allowed; use one of gauge, counter, waveform"]),
        Mistake(name: "detector parameters a type does not take", from: "    type: threshold\n", to: "    type: threshold\n    parameters: { window: 5 }\n",
                expected: ["fan.yaml:22:19: detectors[0].parameters.window: unknown field; remove it or check the spelling in DeviceProfiles/README.md"]),
        Mistake(name: "flatline parameter misspelt", from: "    type: threshold\n", to: "    type: flatline\n    parameters: { min_sample: 5 }\n",
                expected: ["fan.yaml:22:19: detectors[0].parameters.min_sample: unknown field (did you mean \"min_samples\"?); remove it or check the spelling in DeviceProfiles/README.md"]),
        Mistake(name: "negative flatline parameter", from: "    type: threshold\n", to: "    type: flatline\n    parameters: { tolerance: -1 }\n",
                expected: ["fan.yaml:22:30: detectors[0].parameters.tolerance: -1.0 is negative; largest change still counted as identical (default 0)"]),
    ]

    @Test(arguments: mistakes)
    func mistakeIsReportedExactly(_ m: Mistake) {
        #expect(catalogueBase.contains(m.from), "fixture does not contain \(m.from)")
        #expect(catalogueIssues(catalogueBase.replacingOccurrences(of: m.from, with: m.to)) == m.expected)
    }

    @Test func duplicateFaultCode() {
        let text = catalogueBase + "\n  - { code: FAN_VIBRATION_HIGH, name: Again, component: x }"
        #expect(catalogueIssues(text) == ["fan.yaml:33:5: faults[1].code: duplicate fault code \"FAN_VIBRATION_HIGH\"; each fault needs its own code"])
    }

    /// Every bundled profile: valid, every limit's fault in its catalogue, a source comment on top.
    @Test func bundledLibrary() throws {
        let dir = Fixtures.packageRoot().appendingPathComponent("DeviceProfiles")
        let profiles = try ProfileLoader.load(paths: [dir.path])
        #expect(profiles.count >= 8)
        for p in profiles.values {
            #expect(!p.faults.isEmpty, "\(p.id) has no fault catalogue")
            for s in p.sensors {
                if let code = s.limits?.faultCode { #expect(p.fault(code) != nil, "\(p.id).\(s.key) -> \(code)") }
                #expect(s.period != nil, "\(p.id).\(s.key) has no reporting period")
            }
            let text = try String(contentsOfFile: p.sourceFile, encoding: .utf8)
            #expect(text.hasPrefix("#"), "\(p.sourceFile) should start with a comment naming its sources")
        }
        let categories = Set(profiles.values.map(\.category))
        #expect(categories.isSuperset(of: ["pump", "water-network", "chiller", "ventilation", "elevator", "generator", "transformer", "compressor"]))
    }
}
