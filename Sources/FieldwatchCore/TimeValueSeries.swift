import Foundation

extension Timestamp {
    /// RFC 3339, or `YYYY-MM-DD HH:MM:SS[.ffffff]` read as UTC (the NAB data and label format).
    public init?(rfc3339OrUTC text: some StringProtocol) {
        guard let t = Timestamp(rfc3339: text) ?? Timestamp(rfc3339: text + "Z") else { return nil }
        self = t
    }
}

/// A `timestamp,value` CSV with a header (the NAB format), keeping each row's text as written so
/// tools can copy it exactly.
public struct TimeValueSeries: Sendable {
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
    }

    public var timestamps: [Timestamp] = []
    public var timeTexts: [String] = []
    public var valueTexts: [String] = []
    public var values: [Double] = []

    /// Parses CSV text; `file` names it in messages (`file:line: what is wrong`). Values must be
    /// finite numbers written as JSON allows (no leading `+`, no `nan`).
    public init(text: String, file: String) throws(Error) {
        for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() where n > 0 {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count >= 2 else { throw Error(description: "\(file):\(n + 1): expected timestamp,value") }
            let stamp = fields[0].trimmingCharacters(in: .whitespaces)
            guard let ts = Timestamp(rfc3339OrUTC: stamp) else {
                throw Error(description: "\(file):\(n + 1): \"\(stamp)\" is not a time; use YYYY-MM-DD HH:MM:SS (UTC) or RFC 3339")
            }
            let valueText = fields[1].trimmingCharacters(in: .whitespaces)
            guard let value = Double(valueText), value.isFinite, valueText.first != "+" else {
                throw Error(description: "\(file):\(n + 1): \"\(valueText)\" is not a finite number")
            }
            timestamps.append(ts)
            timeTexts.append(stamp)
            valueTexts.append(valueText)
            values.append(value)
        }
    }

    /// Reads and parses a file.
    public init(path: String) throws(Error) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Error(description: "cannot read \(path): \(error.localizedDescription)")
        }
        try self.init(text: text, file: path)
    }
}
