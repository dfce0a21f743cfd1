import Foundation

/// Profiles and inventories for tests: small, with short durations, independent of the
/// shipped DeviceProfiles so the shipped limits can change without breaking tests.
public enum Fixtures {
    /// A pump profile whose limits fire after 2 s.
    public static let pumpProfile = """
        schema: 1
        id: test-pump
        version: 3
        name: Test pump
        category: pump
        criticality: 4
        sensors:
          - key: bearing_temp
            name: Bearing temperature
            unit: Cel
            range: { min: -20, max: 150 }
            nominal: 55
            limits:
              direction: above
              warning: 80
              critical: 95
              clear: 75
              min_duration: 2s
              fault: BEARING_OVERTEMP
          - key: discharge_pressure
            name: Discharge pressure
            unit: bar
            range: { min: 0, max: 25 }
            limits:
              direction: below
              critical: 2
              min_duration: 0s
          - key: flow
            name: Flow
            unit: m3/h
            range: { min: 0, max: 500 }
        faults:
          - code: BEARING_OVERTEMP
            name: Bearing overheating
            component: bearing
            grade: urgent
            skills: [mechanical]
          - code: DISCHARGE_PRESSURE_LOW
            name: Loss of pressure
            component: hydraulic end
        """

    /// The test pump with a reporting period on bearing_temp (stale after 30 s), for staleness
    /// tests; kept out of `pumpProfile` so slow end-to-end runs never see staleness tickets.
    public static let pumpProfileWithPeriod = pumpProfile.replacingOccurrences(
        of: "      fault: BEARING_OVERTEMP\n", with: "      fault: BEARING_OVERTEMP\n    period: 10s\n")

    /// One site, two devices of the test pump.
    public static let inventory = """
        sites:
          - id: site-a
            name: Test site A
            customer: ACME Water
            latitude: 22.5
            longitude: 113.9
            timezone: Asia/Shanghai
        devices:
          - id: pump-1
            site: site-a
            profile: test-pump
          - id: pump-2
            site: site-a
            profile: test-pump
        """

    /// The fixture site as devices of other formats see it: a Sparkplug group of its own
    /// (PlantA), an external id (P-102), and two custom topic mappings.
    public static let formatsInventory = inventory
        .replacingOccurrences(of: "    timezone: Asia/Shanghai\n", with: "    timezone: Asia/Shanghai\n    sparkplug_group: PlantA\n")
        .replacingOccurrences(of: "  - id: pump-2\n    site: site-a\n    profile: test-pump", with: "  - id: pump-2\n    site: site-a\n    profile: test-pump\n    external_id: P-102")
        + "\n" + """
        mappings:
          - topic: plant1/pumps/{device}/data
            site: site-a
            time: {path: time, format: local}
            metrics:
              bearing_temp: temp
              flow: {path: readings.flow_ls, scale: 3.6}
          - topic: gw/all
            device_field: meta.id
            time: {path: ts, format: epoch_s}
            metrics:
              discharge_pressure: p
        """

    /// Writes the fixture profile and inventory into a fresh directory; returns
    /// (profiles directory, inventory file).
    public static func writeSite(in directory: URL) throws -> (profiles: String, inventory: String) {
        let profiles = directory.appendingPathComponent("profiles")
        try FileManager.default.createDirectory(at: profiles, withIntermediateDirectories: true)
        try pumpProfile.write(to: profiles.appendingPathComponent("test-pump.yaml"), atomically: true, encoding: .utf8)
        let inventoryFile = directory.appendingPathComponent("inventory.yaml")
        try inventory.write(to: inventoryFile, atomically: true, encoding: .utf8)
        return (profiles.path, inventoryFile.path)
    }

    /// The package's root directory (for tests that check shipped files).
    public static func packageRoot(filePath: String = #filePath) -> URL {
        var url = URL(fileURLWithPath: filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }
}

extension FileHandle {
    /// Everything until end of file, retrying reads a signal interrupted. Foundation's
    /// `readDataToEndOfFile()` traps on EINTR (a `try!` inside), which a test process that
    /// starts and signals children meets now and then.
    public func readAllRetryingInterrupts() -> Data {
        var data = Data()
        while true {
            do {
                guard let chunk = try read(upToCount: 1 << 16), !chunk.isEmpty else { return data }
                data.append(chunk)
            } catch {
                let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
                if underlying?.code == Int(EINTR) || (error as NSError).code == Int(EINTR) { continue }
                return data
            }
        }
    }
}
