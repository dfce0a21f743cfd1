import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a test fixture could not be set up.
public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A real `mosquitto` broker on a free loopback port, with a temporary configuration, for
/// the lifetime of a test. `stop()` (or deinit) ends it; `restart()` brings it back on the
/// same port, for reconnect tests.
public final class MosquittoBroker: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    private let executable: String
    private let lock = NSLock()
    private var process: Process?

    public var url: String { "mqtt://127.0.0.1:\(port)" }

    /// Starts a broker. Fails with a message saying how to install mosquitto when it is missing.
    public init(extraConfiguration: String = "") throws {
        guard let executable = MosquittoBroker.findExecutable() else {
            throw FixtureError("mosquitto is not installed; run `make test` as root (it installs it) or: sudo apt-get install -y mosquitto mosquitto-clients")
        }
        self.executable = executable
        self.port = try freeLoopbackPort()
        self.directory = try makeTemporaryDirectory(prefix: "mosquitto")
        let config = """
            listener \(port) 127.0.0.1
            allow_anonymous true
            # The default of 1000 silently drops messages for a slow subscriber.
            max_queued_messages 0
            persistence false
            \(extraConfiguration)
            """
        try config.write(to: directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    static func findExecutable() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin", "/sbin"]
        return dirs.map { "\($0)/mosquitto" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = ["-c", directory.appendingPathComponent("mosquitto.conf").path]
        let logPath = directory.appendingPathComponent("mosquitto.log").path
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let log = FileHandle(forWritingAtPath: logPath)
        log?.seekToEndOfFile()
        p.standardOutput = log
        p.standardError = log
        try p.run()
        lock.withLock { process = p }
        // Ready when the port accepts connections (about 20 ms; allow 10 s on a loaded machine).
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if canConnect(port: port) { return }
            if !p.isRunning {
                let text = (try? String(contentsOf: directory.appendingPathComponent("mosquitto.log"), encoding: .utf8)) ?? ""
                throw FixtureError("mosquitto exited with status \(p.terminationStatus) on port \(port): \(text)")
            }
            usleep(10_000)
        }
        throw FixtureError("mosquitto did not accept connections on 127.0.0.1:\(port) within 10 s")
    }

    public func stop() {
        guard let p = lock.withLock({ () -> Process? in defer { process = nil }; return process }) else { return }
        if p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
    }

    public func restart() throws {
        stop()
        try start()
    }
}

/// A port on 127.0.0.1 that nothing listens on right now.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw FixtureError("socket() failed: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw FixtureError("bind() failed: \(String(cString: strerror(errno)))") }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// A fresh directory under the system temporary directory.
public func makeTemporaryDirectory(prefix: String = "fieldwatch") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Polls `condition` until it holds or `timeout` passes. For waiting on real brokers and
/// processes only: never a timing assertion.
public func eventually(timeout: Duration = .seconds(20), _ condition: () throws -> Bool) async rethrows -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try condition()
}
