import FieldwatchCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A bounded JSON-lines file of rejected input: the first `limitPerReason` rejects of each
/// reason, so an operator can see exactly what a misbehaving device sends without the file
/// growing with uptime. Each line: `{"time", "topic", "reason", "detail", "payload"}`, or
/// `"payload_base64"` instead for a binary payload (Sparkplug B, SenML CBOR).
///
/// Written with plain `open`/`write`, whose failures are return values: Foundation's
/// `FileHandle.write` traps when the disk is full, and a full disk plus one bad message would
/// then kill the gateway on every restart. A failed write is counted and said once in the
/// log; the file is cut back to its last whole line, and the next reject tries again, so the
/// file resumes by itself when space returns.
public final class DeadLetterFile: Sendable {
    public let path: String?
    public let limitPerReason: Int
    static let excerptBytes = 512

    public struct Counters: Sendable, Equatable {
        public var written = 0
        /// Rejects that could not be written (disk full, no permission); the reject is still counted.
        public var failures = 0
        public var lastError: String?
        /// The last write failed and no write has succeeded since.
        public var failing = false
    }

    private struct State: ~Copyable {
        var written: [RejectReason: Int] = [:]
        var descriptor: Int32 = -1
        var counters = Counters()
    }

    private let state: Mutex<State>
    private let onFailure: @Sendable (String) -> Void

    /// `path == nil` disables the file (rejects are still counted). `onFailure` hears the
    /// first failure after a success (for the log), not every one.
    public init(path: String?, limitPerReason: Int = 100, onFailure: @escaping @Sendable (String) -> Void = { _ in }) {
        self.path = path
        self.limitPerReason = limitPerReason
        self.state = Mutex(State())
        self.onFailure = onFailure
    }

    deinit {
        state.withLock { if $0.descriptor >= 0 { close($0.descriptor) } }
    }

    public var counters: Counters { state.withLock { $0.counters } }

    struct Entry: Encodable {
        var time: String
        var topic: String
        var reason: String
        var detail: String
        var payload: String?
        /// Binary payloads (Sparkplug B, SenML CBOR, anything not UTF-8), so they can be replayed exactly.
        var payload_base64: String?
    }

    /// Records a reject if its reason is still under the limit. Returns whether it was written.
    @discardableResult
    public func record(reason: RejectReason, topic: String, detail: String, payload: [UInt8], at time: Timestamp) -> Bool {
        guard let path else { return false }
        let head = Array(payload.prefix(Self.excerptBytes))
        let text = String(validating: head, as: UTF8.self).flatMap { t in t.unicodeScalars.contains { $0.value < 0x09 } ? nil : t }
        // A cut inside a multi-byte character is still text: decode the excerpt leniently then.
        let binary = text == nil && String(validating: payload, as: UTF8.self) == nil
        let excerpt = text ?? String(decoding: head, as: UTF8.self)
        let entry = Entry(time: time.rfc3339, topic: topic, reason: reason.rawValue, detail: detail,
                          payload: binary ? nil : payload.count > Self.excerptBytes ? excerpt + "…" : excerpt,
                          payload_base64: binary ? Data(head).base64EncodedString() : nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? encoder.encode(entry) else { return false }
        line.append(0x0A)
        let failure: String? = state.withLock { state -> String? in
            guard state.written[reason, default: 0] < limitPerReason else { return nil }
            if state.descriptor < 0 {
                state.descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
                if state.descriptor < 0 { return Self.fail(&state, "cannot open \(path): \(String(cString: strerror(errno)))") }
            }
            let start = lseek(state.descriptor, 0, SEEK_END)
            var offset = 0
            let error: Int32? = line.withUnsafeBytes { bytes -> Int32? in
                while offset < bytes.count {
                    let n = write(state.descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    offset += n
                }
                return nil
            }
            if let error {
                // No half line left behind for the next one to run into.
                if start >= 0 && offset > 0 { _ = ftruncate(state.descriptor, start) }
                let what = error == ENOSPC ? "the disk is full" : String(cString: strerror(error))
                return Self.fail(&state, "cannot write to \(path): \(what)")
            }
            state.written[reason, default: 0] += 1
            state.counters.written += 1
            state.counters.failing = false
            return ""
        }
        guard let failure else { return false }
        if failure.isEmpty { return true }
        if failure != "-" { onFailure(failure) }
        return false
    }

    /// Counts a failure; the message to log when it is the first since a success, else "-".
    private static func fail(_ state: inout State, _ message: String) -> String {
        let first = !state.counters.failing
        state.counters.failures += 1
        state.counters.lastError = message
        state.counters.failing = true
        return first ? message + "; rejects are still counted, and writing resumes by itself when it can" : "-"
    }
}
