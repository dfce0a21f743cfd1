import Foundation
import Yams

/// Collects issues while reading one YAML document, so a file reports every mistake at once.
public final class YAMLContext {
    public let file: String
    /// The document that explains the file's format, named in hints.
    public let reference: String
    public private(set) var issues: [ProfileIssue] = []

    public init(file: String, reference: String = "DeviceProfiles/README.md") {
        self.file = file
        self.reference = reference
    }

    public func report(_ node: Node?, _ path: String, _ message: String) {
        let mark = node?.mark
        issues.append(ProfileIssue(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, path: path, message: message))
    }

    public func report(line: Int, column: Int, _ path: String, _ message: String) {
        issues.append(ProfileIssue(file: file, line: line, column: column, path: path, message: message))
    }

    /// Parses the text into a node tree; a syntax error becomes an issue with its position.
    public func compose(_ text: String) -> Node? {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                report(line: 1, column: 1, "", "the file is empty; write the document described in \(reference)")
                return nil
            }
            return node
        } catch let error as YamlError {
            switch error {
            case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
                let started = context.map { " (\($0.text) at line \($0.mark.line), column \($0.mark.column))" } ?? ""
                report(line: mark.line, column: mark.column, "", "YAML syntax error: \(problem)\(started); fix the indentation, brackets or quoting")
            case let .duplicatedKeysInMapping(duplicates, context):
                report(line: context.mark.line, column: context.mark.column, "",
                       "duplicate key \(duplicates.joined(separator: ", ")); each key may appear once per mapping")
            default:
                report(line: 1, column: 1, "", "YAML error: \(error)")
            }
            return nil
        } catch {
            report(line: 1, column: 1, "", "cannot read YAML: \(error)")
            return nil
        }
    }
}

/// Reads the fields of one mapping, remembering which keys were used, so that unknown keys
/// (usually typos) are reported with a suggestion.
public struct MappingReader {
    public let context: YAMLContext
    public let node: Node
    public let path: String
    private var pairs: [(key: String, keyNode: Node, value: Node)] = []
    private var used: Set<String> = []

    /// Nil (with an issue reported) when `node` is not a mapping.
    public init?(_ node: Node, path: String, context: YAMLContext, what: String) {
        self.context = context
        self.node = node
        self.path = path
        guard case let .mapping(mapping) = node else {
            context.report(node, path, "expected a mapping (key: value lines) describing \(what), found \(node.kindName)")
            return nil
        }
        for (k, v) in mapping {
            pairs.append((k.string ?? "\(k)", k, v))
        }
    }

    public func fieldPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    public mutating func value(_ key: String) -> Node? {
        used.insert(key)
        return pairs.first { $0.key == key }?.value
    }

    public mutating func required(_ key: String, _ what: String) -> Node? {
        guard let v = value(key) else {
            context.report(node, fieldPath(key), "missing; add `\(key):` with \(what)")
            return nil
        }
        return v
    }

    public mutating func string(_ key: String, required isRequired: Bool = true, _ what: String) -> String? {
        guard let v = isRequired ? required(key, what) : value(key) else { return nil }
        guard case let .scalar(s) = v, !s.string.isEmpty, v.null == nil else {
            context.report(v, fieldPath(key), "expected text (\(what)), found \(v.kindName)")
            return nil
        }
        return s.string
    }

    public mutating func identifier(_ key: String, _ what: String) -> String? {
        guard let s = string(key, what) else { return nil }
        guard Self.isIdentifier(s) else {
            context.report(value(key), fieldPath(key),
                           "\"\(s)\" is not a valid id; use letters, digits, '-', '_' or '.' only (it becomes part of MQTT topics)")
            return nil
        }
        return s
    }

    static func isIdentifier(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 64 && s.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "-" || $0 == "_" || $0 == "."
        }
    }

    public mutating func number(_ key: String, required isRequired: Bool = true, _ what: String) -> Double? {
        guard let v = isRequired ? required(key, what) : value(key) else { return nil }
        guard case .scalar = v, let d = v.float ?? v.int.map(Double.init), d.isFinite else {
            context.report(v, fieldPath(key), "expected a number (\(what)), found \(v.describedValue)")
            return nil
        }
        return d
    }

    public mutating func integer(_ key: String, required isRequired: Bool = true, _ what: String) -> Int? {
        guard let v = isRequired ? required(key, what) : value(key) else { return nil }
        guard case .scalar = v, let i = v.int else {
            context.report(v, fieldPath(key), "expected a whole number (\(what)), found \(v.describedValue)")
            return nil
        }
        return i
    }

    public mutating func bool(_ key: String, _ what: String) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .scalar = v, let b = v.bool else {
            context.report(v, fieldPath(key), "expected true or false (\(what)), found \(v.describedValue)")
            return nil
        }
        return b
    }

    /// A duration written as `30s`, `5m`, `2h`, `1d`, `250ms` or a plain number of seconds.
    public mutating func duration(_ key: String, _ what: String) -> Duration? {
        guard let v = value(key) else { return nil }
        guard case let .scalar(s) = v, let d = parseDuration(s.string) else {
            context.report(v, fieldPath(key), "expected a duration such as 30s, 5m or 2h (\(what)), found \(v.describedValue)")
            return nil
        }
        if d < .zero {
            context.report(v, fieldPath(key), "duration \(s.string) is negative; durations count forward from zero")
            return nil
        }
        return d
    }

    public mutating func sequence(_ key: String, required isRequired: Bool = true, _ what: String) -> [Node]? {
        guard let v = isRequired ? required(key, what) : value(key) else { return nil }
        guard case let .sequence(seq) = v else {
            context.report(v, fieldPath(key), "expected a list (lines starting with '- ') of \(what), found \(v.kindName)")
            return nil
        }
        return Array(seq)
    }

    public mutating func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type, required isRequired: Bool = true) -> E?
    where E.RawValue == String {
        let allowed = E.allCases.map(\.rawValue)
        guard let s = string(key, required: isRequired, "one of \(allowed.joined(separator: ", "))") else { return nil }
        guard let e = E(rawValue: s) else {
            context.report(value(key), fieldPath(key),
                           "\"\(s)\" is not allowed; use one of \(allowed.joined(separator: ", "))\(didYouMean(s, allowed))")
            return nil
        }
        return e
    }

    /// A list of texts (`[a, b]` or lines starting with `- `).
    public mutating func stringList(_ key: String, _ what: String) -> [String]? {
        guard let nodes = sequence(key, required: false, what) else { return nil }
        var result: [String] = []
        for (i, n) in nodes.enumerated() {
            guard case let .scalar(s) = n, n.null == nil, !s.string.isEmpty else {
                context.report(n, "\(fieldPath(key))[\(i)]", "expected text (\(what)), found \(n.describedValue)")
                continue
            }
            result.append(s.string)
        }
        return result
    }

    /// Reports every key that was never asked for.
    public func finish() {
        let known = Array(used)
        for pair in pairs where !used.contains(pair.key) {
            context.report(pair.keyNode, fieldPath(pair.key),
                           "unknown field\(didYouMean(pair.key, known)); remove it or check the spelling in \(context.reference)")
        }
    }
}

/// `; did you mean "range"?` when a candidate is close enough, else empty.
public func didYouMean(_ word: String, _ candidates: [String]) -> String {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }),
          best.1 <= max(2, best.0.count / 3)
    else { return "" }
    return " (did you mean \"\(best.0)\"?)"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

/// Writes a duration the way profiles spell them: `250ms`, `30s`, `5m`, `2h`, `1d`, `90s`.
public func formatDuration(_ d: Duration) -> String {
    let ms = d.wholeMilliseconds
    for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms != 0 && ms % size == 0 {
        return "\(ms / size)\(unit)"
    }
    return "\(ms)ms"
}

/// Parses `250ms`, `30s`, `5m`, `2h`, `1d`, or a bare number of seconds.
/// A duration beyond about 290 million years does not fit in milliseconds; anything above a
/// century is a typo, refused like any other unreadable duration (found by `make fuzz`: `1e300s`
/// trapped on the conversion).
public func parseDuration(_ text: String) -> Duration? {
    let t = text.trimmingCharacters(in: .whitespaces)
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
    let century = 100 * 365.25 * 86_400_000.0
    func duration(_ milliseconds: Double) -> Duration? {
        guard milliseconds.isFinite, abs(milliseconds) <= century else { return nil }
        return .milliseconds(Int64(milliseconds.rounded()))
    }
    for (suffix, scale) in units where t.hasSuffix(suffix) {
        if let n = Double(t.dropLast(suffix.count)) { return duration(n * scale * 1000) }
    }
    return Double(t).flatMap { duration($0 * 1000) }
}

extension Node {
    public var kindName: String {
        switch self {
        case .scalar: return null != nil ? "nothing (null)" : "a single value"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    public var describedValue: String {
        if case let .scalar(s) = self { return null != nil ? "nothing (null)" : "\"\(s.string)\"" }
        return kindName
    }
}
