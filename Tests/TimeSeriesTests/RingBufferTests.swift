import FieldwatchCore
import Foundation
import Testing
@testable import TimeSeries

func s(_ ms: Int64, _ v: Double = 0) -> Sample { Sample(timestamp: Timestamp(milliseconds: ms), value: v) }

/// Checks the ring's invariants: count within capacity, timestamps never decreasing.
func checkInvariants(_ ring: RingBuffer, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(ring.count <= ring.capacity, sourceLocation: sourceLocation)
    for i in 1..<max(1, ring.count) {
        #expect(ring[i - 1].timestamp <= ring[i].timestamp, "out of order at \(i)", sourceLocation: sourceLocation)
    }
}

@Suite("RingBuffer")
struct RingBufferTests {
    @Test func appendsInOrderAndWrapsAround() {
        var ring = RingBuffer(capacity: 4)
        for t in 1...10 { #expect(ring.append(s(Int64(t), Double(t))) == .appended) }
        #expect(ring.count == 4)
        #expect(ring.samples.map(\.value) == [7, 8, 9, 10])
        #expect(ring.oldest?.value == 7)
        #expect(ring.latest?.value == 10)
        checkInvariants(ring)
    }

    @Test func lateSampleWithinToleranceIsPlacedInOrder() {
        var ring = RingBuffer(capacity: 8, lateTolerance: .milliseconds(100))
        for t in [10, 20, 30, 40] as [Int64] { ring.append(s(t)) }
        #expect(ring.append(s(25)) == .insertedLate)
        #expect(ring.samples.map(\.timestamp.milliseconds) == [10, 20, 25, 30, 40])
        checkInvariants(ring)
    }

    @Test func lateSampleIntoAFullWrappedRingDropsTheOldest() {
        var ring = RingBuffer(capacity: 4, lateTolerance: .milliseconds(100))
        for t in [10, 20, 30, 40, 50, 60] as [Int64] { ring.append(s(t)) }  // holds 30 40 50 60, wrapped
        #expect(ring.append(s(45)) == .insertedLate)
        #expect(ring.samples.map(\.timestamp.milliseconds) == [40, 45, 50, 60])
        checkInvariants(ring)
    }

    @Test func sampleOlderThanToleranceIsRefused() {
        var ring = RingBuffer(capacity: 8, lateTolerance: .milliseconds(100))
        ring.append(s(1000))
        #expect(ring.append(s(899)) == .tooLate)
        #expect(ring.append(s(900)) == .insertedLate)
        #expect(ring.count == 2)
    }

    @Test func lateSampleOlderThanEverythingInAFullRingIsRefused() {
        var ring = RingBuffer(capacity: 3, lateTolerance: .seconds(10))
        for t in [100, 200, 300] as [Int64] { ring.append(s(t)) }
        #expect(ring.append(s(50)) == .tooLate)
        #expect(ring.samples.map(\.timestamp.milliseconds) == [100, 200, 300])
    }

    @Test func rangeIsInclusiveAndOrdered() {
        var ring = RingBuffer(capacity: 5)
        for t in 1...8 { ring.append(s(Int64(t * 10), Double(t))) }  // keeps 40...80
        #expect(ring.range(from: Timestamp(milliseconds: 50), to: Timestamp(milliseconds: 70)).map(\.value) == [5, 6, 7])
        #expect(ring.range(from: Timestamp(milliseconds: 0), to: Timestamp(milliseconds: 45)).map(\.value) == [4])
        #expect(ring.range(from: Timestamp(milliseconds: 81), to: Timestamp(milliseconds: 99)).isEmpty)
        #expect(ring.range(from: Timestamp(milliseconds: 70), to: Timestamp(milliseconds: 50)).isEmpty)
    }

    @Test func windowStats() {
        var ring = RingBuffer(capacity: 16)
        for (i, v) in [2.0, 4, 4, 4, 5, 5, 7, 9].enumerated() { ring.append(s(Int64(i), v)) }
        let stats = ring.stats(from: Timestamp(milliseconds: 0), to: Timestamp(milliseconds: 100))
        #expect(stats.count == 8)
        #expect(stats.min == 2)
        #expect(stats.max == 9)
        #expect(stats.mean == 5)
        #expect(abs(stats.standardDeviation - 2) < 1e-12)
        let part = ring.stats(from: Timestamp(milliseconds: 6), to: Timestamp(milliseconds: 7))
        #expect(part.count == 2 && part.mean == 8)
        #expect(ring.stats(from: Timestamp(milliseconds: 50), to: Timestamp(milliseconds: 60)).count == 0)
    }

    @Test func statsStayAccurateForLargeValuesWithSmallSpread() {
        var w = WindowStats()
        for v in [1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16] { w.add(v) }
        #expect(abs(w.standardDeviation - 4.743416490252569) < 1e-6)
    }

    /// Random appends (in order, late, too late) against a simple sorted-array model.
    @Test(arguments: [1, 2, 3, 17, 64])
    func matchesAReferenceModel(capacity: Int) {
        var ring = RingBuffer(capacity: capacity, lateTolerance: .milliseconds(50))
        var model: [Sample] = []
        var rng = SystemRandomNumberGenerator()
        var newest: Int64 = 1000
        for step in 0..<2000 {
            let late = Int64.random(in: 0...3, using: &rng) == 0
            let t = late ? newest - Int64.random(in: 1...80, using: &rng) : newest + Int64.random(in: 0...20, using: &rng)
            let sample = s(t, Double(step))
            let outcome = ring.append(sample)
            // Model: same rules, applied to a sorted array.
            if let last = model.last, t < last.timestamp.milliseconds {
                if last.timestamp.milliseconds - t > 50 || (model.count == capacity && t < model[0].timestamp.milliseconds) {
                    #expect(outcome == .tooLate)
                    continue
                }
                let pos = model.lastIndex { $0.timestamp.milliseconds <= t }.map { $0 + 1 } ?? 0
                if model.count == capacity {
                    if pos == 0 { #expect(outcome == .tooLate); continue }
                    model.removeFirst()
                    model.insert(sample, at: pos - 1)
                } else {
                    model.insert(sample, at: pos)
                }
                #expect(outcome == .insertedLate)
            } else {
                model.append(sample)
                if model.count > capacity { model.removeFirst() }
                #expect(outcome == .appended)
                newest = t
            }
            #expect(ring.samples == model)
        }
        checkInvariants(ring)
    }

    @Test func bytesPerSeriesIsFixed() {
        #expect(MemoryLayout<Sample>.stride == 16)
        #expect(RingBuffer.bytesPerSeries(capacity: 256) == 256 * 16 + 32 + MemoryLayout<RingBuffer>.stride)
    }
}

@Suite("SeriesStore")
struct SeriesStoreTests {
    @Test func keepsOneRingPerSeriesAndCountsOutcomes() {
        let store = SeriesStore(configuration: .init(capacity: 4, lateTolerance: .milliseconds(10)))
        let a = SeriesKey(device: "d1", sensor: "t")
        let b = SeriesKey(device: "d2", sensor: "t")
        for t in 1...6 { store.append(s(Int64(t * 100), Double(t)), to: a) }
        store.append(s(100, 42), to: b)
        store.append(s(595, 0), to: a)  // late, within tolerance
        store.append(s(1, 0), to: a)  // too late
        #expect(store.seriesCount == 2)
        #expect(store.latest(a)?.value == 6)
        #expect(store.latest(b)?.value == 42)
        #expect(store.range(a, from: Timestamp(milliseconds: 0), to: Timestamp(milliseconds: 10_000)).count == 4)
        #expect(store.counters == SeriesStore.Counters(appended: 7, insertedLate: 1, droppedTooLate: 1))
        #expect(store.bytesInUse == 2 * RingBuffer.bytesPerSeries(capacity: 4))
    }
}

@Suite("RingBuffer checkpoints")
struct RingBufferCodableTests {
    @Test func aWrappedRingRoundTripsAndCarriesOnAsTheOriginal() throws {
        var ring = RingBuffer(capacity: 5, lateTolerance: .milliseconds(50))
        for t in 1...13 { ring.append(s(Int64(t) * 100, Double(t) / 3)) }
        var copy = try JSONDecoder().decode(RingBuffer.self, from: JSONEncoder().encode(ring))
        #expect(copy.capacity == 5 && copy.lateToleranceMilliseconds == 50)
        #expect(copy.samples == ring.samples)
        checkInvariants(copy)
        // The same appends (in order, late, too late) do the same to both.
        for sample in [s(1400, 1), s(1370, 2), s(1000, 3), s(1500, 4)] {
            #expect(copy.append(sample) == ring.append(sample))
        }
        #expect(copy.samples == ring.samples)
    }

    struct Damaged: Sendable, CustomTestStringConvertible {
        var json: String
        var problem: String
        var testDescription: String { problem }
    }

    @Test(arguments: [
        Damaged(json: #"{"capacity": 2, "lateToleranceMs": 0, "timestamps": [1, 2, 3], "values": [0, 0, 0]}"#, problem: "3 samples do not fit a ring of 2"),
        Damaged(json: #"{"capacity": 4, "lateToleranceMs": 0, "timestamps": [2, 1], "values": [0, 0]}"#, problem: "samples are not in timestamp order"),
        Damaged(json: #"{"capacity": 4, "lateToleranceMs": 0, "timestamps": [1, 2], "values": [0]}"#, problem: "2 timestamps but 1 values"),
        Damaged(json: #"{"capacity": 0, "lateToleranceMs": 0, "timestamps": [], "values": []}"#, problem: "ring capacity 0 is outside"),
        Damaged(json: #"{"capacity": 4, "lateToleranceMs": -1, "timestamps": [], "values": []}"#, problem: "late tolerance -1 ms is negative"),
    ])
    func aDamagedRingFailsToDecodeInsteadOfBreakingItsInvariants(_ d: Damaged) {
        #expect {
            _ = try JSONDecoder().decode(RingBuffer.self, from: Data(d.json.utf8))
        } throws: { error in
            guard case let .dataCorrupted(context) = error as? DecodingError else { return false }
            return context.debugDescription.contains(d.problem)
        }
    }
}
