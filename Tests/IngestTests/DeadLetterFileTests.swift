import FieldwatchCore
import FieldwatchTesting
import Foundation
import Synchronization
import Testing
@testable import Ingest

@Suite("Dead-letter file when the disk is full")
struct DeadLetterFileTests {
    static let t = Timestamp(milliseconds: 1_764_240_000_000)

    @Test func aFullDiskIsCountedAndSaidOnceNotACrash() throws {
        // /dev/full answers every write with ENOSPC, as a full disk does. FileHandle.write
        // trapped on it and took the gateway down.
        let heard = Mutex<[String]>([])
        let file = DeadLetterFile(path: "/dev/full", onFailure: { m in heard.withLock { $0.append(m) } })
        for i in 0..<5 {
            #expect(!file.record(reason: .malformedJSON, topic: "fieldwatch/a/b/telemetry", detail: "bad \(i)", payload: Array("{".utf8), at: Self.t))
        }
        let c = file.counters
        #expect(c.written == 0 && c.failures == 5 && c.failing)
        #expect(c.lastError == "cannot write to /dev/full: the disk is full")
        #expect(heard.withLock { $0 } == ["cannot write to /dev/full: the disk is full; rejects are still counted, and writing resumes by itself when it can"],
                "said once, not once per reject")
    }

    @Test func anUnwritablePlaceIsRetriedAndResumes() throws {
        let directory = try makeTemporaryDirectory().appendingPathComponent("not-yet")
        let path = directory.appendingPathComponent("dead.jsonl").path
        let file = DeadLetterFile(path: path)
        #expect(!file.record(reason: .malformedJSON, topic: "t", detail: "d", payload: [], at: Self.t))
        #expect(file.counters.lastError?.hasPrefix("cannot open \(path)") == true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        #expect(file.record(reason: .malformedJSON, topic: "t", detail: "d", payload: Array("{".utf8), at: Self.t))
        #expect(!file.counters.failing && file.counters.written == 1)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains(#""reason":"malformed_json""#))
    }
}
