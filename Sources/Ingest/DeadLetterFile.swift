import FieldwatchCore
import Foundation
import Synchronization

/// A bounded JSON-lines file of rejected input: the first `limitPerReason` rejects of each
/// reason, so an operator can see exactly what a misbehaving device sends without the file
/// growing with uptime. Each line: `{"time", "topic", "reason", "detail", "payload"}`.
public final class DeadLetterFile: Sendable {
    public let path: String?
    public let limitPerReason: Int
    static let excerptBytes = 512

    private struct State: ~Copyable {
        var written: [RejectReason: Int] = [:]
        var handle: FileHandle?
        var failed = false
    }

    private let state: Mutex<State>

    /// `path == nil` disables the file (rejects are still counted).
    public init(path: String?, limitPerReason: Int = 100) {
        self.path = path
        self.limitPerReason = limitPerReason
        self.state = Mutex(State())
    }

    struct Entry: Encodable {
        var time: String
        var topic: String
        var reason: String
        var detail: String
        var payload: String
    }

    /// Records a reject if its reason is still under the limit. Returns whether it was written.
    @discardableResult
    public func record(reason: RejectReason, topic: String, detail: String, payload: [UInt8], at time: Timestamp) -> Bool {
        guard let path else { return false }
        return state.withLock { state in
            guard !state.failed, state.written[reason, default: 0] < limitPerReason else { return false }
            if state.handle == nil {
                if !FileManager.default.fileExists(atPath: path) {
                    _ = FileManager.default.createFile(atPath: path, contents: nil)
                }
                guard let handle = FileHandle(forWritingAtPath: path) else {
                    state.failed = true
                    return false
                }
                handle.seekToEndOfFile()
                state.handle = handle
            }
            let excerpt = String(decoding: payload.prefix(Self.excerptBytes), as: UTF8.self)
            let entry = Entry(time: time.rfc3339, topic: topic, reason: reason.rawValue, detail: detail,
                              payload: payload.count > Self.excerptBytes ? excerpt + "…" : excerpt)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard var line = try? encoder.encode(entry) else { return false }
            line.append(0x0A)
            state.handle?.write(line)
            state.written[reason, default: 0] += 1
            return true
        }
    }
}
