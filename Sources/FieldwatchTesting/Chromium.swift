import Foundation

/// A page as headless Chromium left it: the DOM after the page's scripts ran (virtual time),
/// and every console message and uncaught exception it logged.
public struct BrowserPage: Sendable {
    public var url: String
    public var dom: String
    /// `CONSOLE` lines of Chromium's log: console.log/error calls and uncaught exceptions.
    public var console: [String]

    /// What a person would call broken on this page: console output, an uncaught exception, an
    /// error banner or message with text, or a value the page failed to compute.
    public var problems: [String] {
        var found = console.map { "console: \($0)" }
        // Any element of class error (the banner included) with text, unless hidden.
        var rest = dom[...]
        while let r = rest.range(of: #"class="error[^"]*"[^>]*>[^<]+<"#, options: .regularExpression) {
            if !rest[r].contains("hidden") { found.append("error shown: \(rest[r])") }
            rest = rest[r.upperBound...]
        }
        for word in ["NaN", "undefined", "Invalid Date", "Invalid time value", "[object Object]"] {
            guard let at = dom.range(of: word) else { continue }
            let start = dom.index(at.lowerBound, offsetBy: -80, limitedBy: dom.startIndex) ?? dom.startIndex
            found.append("\"\(word)\" on the page: …\(dom[start..<at.upperBound])")
        }
        return found
    }
}

/// Headless Chromium for the dashboard's tests (Debian's `chromium`, installed by
/// scripts/install-deps.sh).
public enum Chromium {
    public static func executable() throws -> String {
        guard let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first(where: FileManager.default.isExecutableFile(atPath:))
        else { throw FixtureError("chromium is not installed; run `sudo apt-get install chromium` (scripts/install-deps.sh does)") }
        return path
    }

    /// Loads `url`, lets its scripts run for `budget` of virtual time, and returns the DOM and
    /// console. With `screenshot`, also saves a PNG of the page at `windowSize` (a phone by default).
    /// The wait happens on a Dispatch thread: blocking a Swift concurrency thread could starve an
    /// in-process server that Chromium is talking to.
    public static func load(_ url: String, screenshot: String? = nil, windowSize: String = "412,915",
                            budget: Duration = .seconds(6)) async throws -> BrowserPage {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try loadBlocking(url, screenshot: screenshot, windowSize: windowSize, budget: budget) })
            }
        }
    }

    static func loadBlocking(_ url: String, screenshot: String?, windowSize: String, budget: Duration) throws -> BrowserPage {
        let profile = try makeTemporaryDirectory(prefix: "chromium")
        defer { try? FileManager.default.removeItem(at: profile) }
        var arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
                         "--user-data-dir=\(profile.path)", "--virtual-time-budget=\(budget.components.seconds * 1000)",
                         "--enable-logging=stderr", "--v=0", "--window-size=\(windowSize)"]
        if let screenshot { arguments.append("--screenshot=\(screenshot)") } else { arguments.append("--dump-dom") }
        arguments.append(url)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executable())
        process.arguments = arguments
        process.currentDirectoryURL = profile
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes to the end at once, or a chatty one fills up and Chromium stalls.
        let errData = LockedData()
        let errReader = Thread { errData.set(err.fileHandleForReading.readAllRetryingInterrupts()) }
        errReader.start()
        let data = out.fileHandleForReading.readAllRetryingInterrupts()
        process.waitUntilExit()
        while !errData.done { usleep(1000) }
        let console = String(decoding: errData.value, as: UTF8.self).split(separator: "\n")
            .filter { $0.contains(":CONSOLE") || $0.contains("Uncaught") }.map(String.init)
        return BrowserPage(url: url, dom: String(decoding: data, as: UTF8.self), console: console)
    }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false
    func set(_ d: Data) { lock.lock(); data = d; finished = true; lock.unlock() }
    var done: Bool { lock.lock(); defer { lock.unlock() }; return finished }
    var value: Data { lock.lock(); defer { lock.unlock() }; return data }
}
