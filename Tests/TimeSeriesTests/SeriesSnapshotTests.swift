import FieldwatchCore
import Foundation
import Testing
@testable import TimeSeries

@Suite("Series saved and put back")
struct SeriesSnapshotTests {
    static let t0: Int64 = 1_772_409_600_000

    /// Sample sets that exercise every encoding: decimal, widened decimal, XOR, irregular.
    static func sampleSets() -> [[Sample]] {
        var rng = SplitMix64(seed: 9)
        let decimal = (0..<2000).map { Sample(timestamp: Timestamp(milliseconds: t0 + Int64($0) * 10_000), value: (55 + (rng.uniform() - 0.5) * 3 * 100).rounded() / 100) }
        let xor = (0..<500).map { Sample(timestamp: Timestamp(milliseconds: t0 + Int64($0) * 997 + Int64(rng.next() % 13)), value: rng.uniform() * 1e6 - 3) }
        let widened = (0..<300).map { Sample(timestamp: Timestamp(milliseconds: t0 + Int64($0) * 1000), value: 56 + Double($0 % 9) / 10) }
        return [[], [Sample(timestamp: Timestamp(milliseconds: t0), value: 1)], decimal, xor, widened]
    }

    @Test func aBlockReadBackFromItsBytesIsTheSameBlockAndGoesOnAppending() throws {
        for samples in Self.sampleSets() {
            var block = GorillaBlock()
            for s in samples.dropLast(10) { block.append(s) }
            let bytes = block.serialized
            #expect(bytes.count == 9 + (block.bitCount + 7) / 8)
            var restored = try GorillaBlock(serialized: bytes)
            // Equal as values: the bits and the encoder's state after the last sample.
            #expect(restored == block)
            #expect(restored.samples.map(\.timestamp) == block.samples.map(\.timestamp))
            #expect(restored.samples.map(\.value.bitPattern) == block.samples.map(\.value.bitPattern))
            // Appending after a restore writes exactly what appending without one would have.
            for s in samples.suffix(10) {
                block.append(s)
                restored.append(s)
            }
            #expect(restored == block)
            #expect(restored.samples.map(\.value.bitPattern) == samples.map(\.value.bitPattern))
        }
    }

    @Test func damagedBlockBytesThrowAndNeverTrap() throws {
        var block = GorillaBlock()
        for s in Self.sampleSets()[3].prefix(200) { block.append(s) }
        let bytes = block.serialized
        #expect(throws: SeriesSnapshotError("a saved Gorilla block has format 2; this version reads format 1 only")) {
            try GorillaBlock(serialized: [2] + bytes.dropFirst())
        }
        #expect(throws: SeriesSnapshotError.self) { try GorillaBlock(serialized: bytes.dropLast()) }
        #expect(throws: SeriesSnapshotError.self) { try GorillaBlock(serialized: [UInt8]()) }
        // A count the bits cannot hold is refused before anything is allocated for it.
        #expect(throws: SeriesSnapshotError.self) { try GorillaBlock(serialized: [1, 0xFF, 0xFF, 0xFF, 0xFF] + bytes[5...]) }
        // Random damage: every outcome is a throw or a block; none is a trap or a read past the end.
        var rng = SplitMix64(seed: 1)
        var thrown = 0
        for _ in 0..<2000 {
            var damaged = bytes
            for _ in 0...(rng.next() % 3) { damaged[Int(rng.next() % UInt64(damaged.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            do { _ = try GorillaBlock(serialized: damaged).samples } catch { thrown += 1 }
        }
        #expect(thrown > 0)
    }

    static let keys = [SeriesKey(device: "pump-1", sensor: "bearing_temp"), SeriesKey(device: "pump-1", sensor: "vibration_rms"),
                       SeriesKey(device: "pump-2#drill", sensor: "bearing_temp")]

    /// A store of 16-sample rings and 2 KiB of 100 s blocks, filled with 3,000 samples a series.
    static func filledStore() -> (SeriesStore, [SeriesKey: [Sample]]) {
        let store = SeriesStore(configuration: .init(capacity: 16, historyBytes: 2048, historyBlock: .seconds(100)))
        var appended: [SeriesKey: [Sample]] = [:]
        for (k, key) in keys.enumerated() {
            for i in 0..<3000 {
                let s = Sample(timestamp: Timestamp(milliseconds: t0 + Int64(i) * 1000), value: 50 + Double((i * (k + 3)) % 17) * 0.25)
                store.append(s, to: key)
                appended[key, default: []].append(s)
            }
        }
        return (store, appended)
    }

    static func everything(_ store: SeriesStore, _ key: SeriesKey) -> [Sample] {
        store.range(key, from: Timestamp(milliseconds: 0), to: Timestamp(milliseconds: .max))
    }

    /// What storage does: the recent part as bytes, the sealed blocks each as bytes of their own.
    static func saveAndDecode(_ snapshot: SeriesSnapshot) throws -> SeriesSnapshot {
        let recent = snapshot.encodedRecent()
        var sealed: [SeriesKey: [GorillaBlock]] = [:]
        for (key, series) in snapshot.series {
            sealed[key] = try series.sealed.map { try GorillaBlock(serialized: $0.serialized) }
        }
        return try SeriesSnapshot.decode(recent: recent, sealed: sealed)
    }

    @Test func ringsAndHistoryComeBackExactly() throws {
        let (store, appended) = Self.filledStore()
        let snapshot = store.snapshot()
        #expect(snapshot.series.count == 3)
        #expect(snapshot.series.values.allSatisfy { $0.ring.count == 16 && !$0.sealed.isEmpty && $0.open != nil })
        let decoded = try Self.saveAndDecode(snapshot)
        #expect(decoded == snapshot)

        let restored = SeriesStore(configuration: store.configuration)
        let report = restored.restore(decoded)
        #expect(report.series == 3 && report.unknownSeries == 0 && report.trimmedSamples == 0)
        for key in Self.keys {
            let before = Self.everything(store, key)
            #expect(before.count > 16 * 10, "history reaches far beyond the ring")
            #expect(before == Array(appended[key]!.suffix(before.count)))
            #expect(Self.everything(restored, key) == before)
            #expect(restored.latest(key) == store.latest(key))
        }
        #expect(report.samples == Self.keys.reduce(0) { $0 + Self.everything(store, $1).count })
        #expect(restored.historyBytesInUse == store.historyBytesInUse)
        #expect(restored.counters == SeriesStore.Counters(), "restored samples are not counted as ingested")

        // And the restored store goes on as the original does.
        for key in Self.keys {
            for i in 3000..<3300 {
                let s = Sample(timestamp: Timestamp(milliseconds: Self.t0 + Int64(i) * 1000), value: Double(i % 5))
                store.append(s, to: key)
                restored.append(s, to: key)
            }
            #expect(Self.everything(restored, key) == Self.everything(store, key))
        }
    }

    @Test func restoringUnderASmallerRingAndBudgetKeepsTheNewestSamples() throws {
        let (store, _) = Self.filledStore()
        let snapshot = try Self.saveAndDecode(store.snapshot())
        let saved = Self.everything(store, Self.keys[0])

        // A smaller ring hands its oldest samples to the history; a smaller budget drops the oldest blocks.
        let smaller = SeriesStore(configuration: .init(capacity: 8, historyBytes: 512, historyBlock: .seconds(100)))
        let report = smaller.restore(snapshot)
        let kept = Self.everything(smaller, Self.keys[0])
        #expect(report.trimmedSamples > 0 && report.series == 3)
        #expect(kept.count < saved.count && kept.count > 8)
        #expect(kept == Array(saved.suffix(kept.count)), "the newest samples, contiguous")
        #expect(smaller.range(Self.keys[0], from: saved[saved.count - 8].timestamp, to: Timestamp(milliseconds: .max)).count == 8)
        #expect(smaller.historyBytesInUse <= 3 * (512 + 1024), "within the budget (plus the block being filled): \(smaller.historyBytesInUse)")

        // No history any more: the newest `capacity` samples, the rest trimmed and counted.
        let ringOnly = SeriesStore(configuration: .init(capacity: 8))
        let r = ringOnly.restore(snapshot)
        #expect(Self.everything(ringOnly, Self.keys[0]) == Array(saved.suffix(8)))
        #expect(ringOnly.historyBytesInUse == 0)
        #expect(r.samples == 3 * 8 && r.trimmedSamples == snapshot.series.values.reduce(0) { $0 + $1.sampleCount } - 3 * 8)

        // A larger ring takes the saved samples as they are.
        let larger = SeriesStore(configuration: .init(capacity: 64, historyBytes: 4096, historyBlock: .seconds(100)))
        #expect(larger.restore(snapshot).trimmedSamples == 0)
        #expect(Self.everything(larger, Self.keys[0]) == saved)

        // Series the caller no longer knows are left out and counted.
        let known = SeriesStore(configuration: store.configuration)
        let k = known.restore(snapshot) { !$0.device.rawValue.hasSuffix("#drill") }
        #expect(k.series == 2 && k.unknownSeries == 1 && known.seriesCount == 2)
    }

    @Test func damagedOrForeignSnapshotsAreRefusedWithTheReason() throws {
        let (store, _) = Self.filledStore()
        let recent = store.snapshot().encodedRecent()
        #expect(throws: SeriesSnapshotError("the saved series are not a series snapshot (no FWSS header)")) {
            try SeriesSnapshot.decode(recent: Array("not a snapshot".utf8))
        }
        var newer = recent
        newer[4] = 2
        #expect(throws: SeriesSnapshotError("the saved series have format 2; this version reads format 1 only")) {
            try SeriesSnapshot.decode(recent: newer)
        }
        #expect(throws: SeriesSnapshotError.self) { try SeriesSnapshot.decode(recent: recent + [0]) }
        // Cut anywhere: a throw, never a trap.
        for length in stride(from: 0, to: recent.count, by: 7) {
            #expect(throws: SeriesSnapshotError.self) { try SeriesSnapshot.decode(recent: recent.prefix(length)) }
        }
        // A sealed block that overlaps the open block is named.
        let late = try #require(store.snapshot().series[Self.keys[0]]?.open)
        do {
            _ = try SeriesSnapshot.decode(recent: recent, sealed: [Self.keys[0]: [late]])
            Issue.record("overlapping blocks were accepted")
        } catch {
            #expect(error.problem.hasPrefix("series pump-1/bearing_temp: the open history block starts at"), "\(error)")
        }
    }
}
