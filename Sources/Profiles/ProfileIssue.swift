/// One problem found in a profile or inventory file, located precisely enough to fix it:
/// `DeviceProfiles/pump.yaml:14:7: sensors[2].range.max: 12 is below range.min (40); swap them or fix the units`.
public struct ProfileIssue: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    /// Dotted path of the field (`sensors[2].range.max`); empty for the whole document.
    public var path: String
    /// What is wrong; what to do.
    public var message: String

    public init(file: String, line: Int, column: Int, path: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    public var description: String {
        path.isEmpty ? "\(file):\(line):\(column): \(message)" : "\(file):\(line):\(column): \(path): \(message)"
    }
}

/// The one error type of the Profiles module: every issue found, not just the first.
public struct ProfileError: Error, Sendable, CustomStringConvertible {
    public var issues: [ProfileIssue]
    public init(issues: [ProfileIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
