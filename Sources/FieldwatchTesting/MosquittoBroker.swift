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
    private var pid: pid_t?

    public var url: String { "mqtt://127.0.0.1:\(port)" }

    /// Starts a broker. Fails with a message saying how to install mosquitto when it is missing.
    /// `extraConfiguration` lines apply to the listener (TLS files, `password_file`).
    public init(anonymous: Bool = true, extraConfiguration: String = "") throws {
        guard let executable = MosquittoBroker.findExecutable() else {
            throw FixtureError("mosquitto is not installed; run `make test` as root (it installs it) or: sudo apt-get install -y mosquitto mosquitto-clients")
        }
        self.executable = executable
        self.port = try freeLoopbackPort()
        self.directory = try makeTemporaryDirectory(prefix: "mosquitto")
        let config = """
            listener \(port) 127.0.0.1
            allow_anonymous \(anonymous)
            # The default of 1000 silently drops messages for a slow subscriber.
            max_queued_messages 0
            set_tcp_nodelay true
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
        let logPath = directory.appendingPathComponent("mosquitto.log").path
        let configPath = directory.appendingPathComponent("mosquitto.conf").path
        let pid = try spawn(executable, ["-c", configPath], logPath: logPath)
        lock.withLock { self.pid = pid }
        // Ready when the port accepts connections (about 20 ms; allow 10 s on a loaded machine).
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if canConnect(port: port) { return }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                lock.withLock { self.pid = nil }
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw FixtureError("mosquitto exited (status \(status)) on port \(port): \(text)")
            }
            usleep(10_000)
        }
        throw FixtureError("mosquitto did not accept connections on 127.0.0.1:\(port) within 10 s")
    }

    /// Stops the broker: SIGTERM, then SIGKILL if it has not exited within 5 s.
    public func stop() {
        guard let pid = lock.withLock({ () -> pid_t? in defer { self.pid = nil }; return self.pid }) else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<500 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }

    /// Kills the broker without letting it shut down (a crash).
    public func kill9() {
        guard let pid = lock.withLock({ () -> pid_t? in defer { self.pid = nil }; return self.pid }) else { return }
        var status: Int32 = 0
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
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

/// Starts a child process with a clean signal mask. Foundation's `Process` passes on the
/// parent's blocked signals (the Swift runtime blocks SIGTERM and SIGINT in its threads),
/// and mosquitto then never sees SIGTERM.
public func spawn(_ executable: String, _ arguments: [String], logPath: String, environment: [String: String] = [:]) throws -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigfillset(&defaults)
    sigdelset(&defaults, SIGKILL)
    sigdelset(&defaults, SIGSTOP)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard rc == 0 else { throw FixtureError("cannot start \(executable): \(String(cString: strerror(rc)))") }
    return pid
}

/// A real HTTP listener on a free loopback port (python3's http.server) that answers the
/// first `failFirst` POSTs with 503 and the rest with 200, and records each request.
public final class HTTPRecorder: @unchecked Sendable {
    public struct Request: Decodable, Sendable {
        public var n: Int
        public var status: Int
        public var path: String
        public var key: String?
        public var event: String?
        public var body: String
        /// The X-Fieldwatch-Signature header, and whether Python's own hmac module agrees with it.
        public var signature: String?
        public var signatureOK: Bool?
    }
    public let port: Int
    public let logPath: String
    private let pid: pid_t
    public var url: URL { URL(string: "http://127.0.0.1:\(port)/hooks/fieldwatch")! }

    static let script = """
        import http.server, json, sys, hmac, hashlib
        port, fail, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
        secret = sys.argv[4] if len(sys.argv) > 4 else None
        count = 0
        def verify(header, body):
            if secret is None or header is None:
                return None
            parts = dict(p.split('=', 1) for p in header.split(','))
            expected = hmac.new(secret.encode(), (parts['t'] + '.' + body).encode(), hashlib.sha256).hexdigest()
            return hmac.compare_digest(expected, parts.get('v1', ''))
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                global count
                count += 1
                body = self.rfile.read(int(self.headers.get('Content-Length', 0))).decode()
                status = 503 if count <= fail else 200
                with open(log, 'a') as f:
                    f.write(json.dumps({"n": count, "status": status, "path": self.path, "key": self.headers.get('Idempotency-Key'),
                                        "event": self.headers.get('X-Fieldwatch-Event'), "body": body,
                                        "signature": self.headers.get('X-Fieldwatch-Signature'),
                                        "signatureOK": verify(self.headers.get('X-Fieldwatch-Signature'), body)}) + "\\n")
                self.send_response(status)
                self.send_header('Content-Length', '0')
                self.end_headers()
            def log_message(self, *args):
                pass
        server = http.server.ThreadingHTTPServer(('127.0.0.1', port), H)
        print('ready', flush=True)
        server.serve_forever()
        """

    /// `failFirst` requests are answered 503; with `secret`, each request's signature is
    /// checked with Python's hmac module (an independent implementation).
    public init(failFirst: Int, secret: String? = nil) async throws {
        guard let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw FixtureError("python3 is not installed; run `sudo apt-get install python3` (scripts/install-deps.sh does)")
        }
        let dir = try makeTemporaryDirectory(prefix: "http")
        port = try freeLoopbackPort()
        logPath = dir.appendingPathComponent("requests.jsonl").path
        let out = dir.appendingPathComponent("server.log").path
        pid = try spawn(python, ["-c", Self.script, "\(port)", "\(failFirst)", logPath] + (secret.map { [$0] } ?? []), logPath: out)
        let ready = await eventually(timeout: .seconds(20)) { (try? String(contentsOfFile: out, encoding: .utf8))?.contains("ready") == true }
        guard ready else { throw FixtureError("the HTTP listener did not start; see \(out)") }
    }

    public func requests() -> [Request] {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
