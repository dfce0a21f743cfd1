import FieldwatchCore
import Foundation
import Testing
@testable import TimeSeries

@Suite("Gorilla-compressed blocks")
struct GorillaBlockTests {
    static let t0: Int64 = 1_772_409_600_000

    static func roundTrip(_ samples: [Sample]) -> GorillaBlock {
        var block = GorillaBlock()
        for s in samples { block.append(s) }
        #expect(block.count == samples.count)
        let decoded = block.samples
        #expect(decoded.count == samples.count)
        for (a, b) in zip(decoded, samples) {
            #expect(a.timestamp == b.timestamp && a.value.bitPattern == b.value.bitPattern, "\(a) != \(b)")
            if a != b && !(a.value.isNaN && b.value.isNaN) { break }
        }
        return block
    }

    @Test func aRegularSensorCostsAFewBitsPerSample() {
        // Every 10 s, a bearing temperature quantised to 0.01 °C with a slow drift and noise.
        var rng = SplitMix64(seed: 7)
        let samples = (0..<8640).map { i in
            Sample(timestamp: Timestamp(milliseconds: Self.t0 + Int64(i) * 10_000),
                   value: ((55 + 5 * sin(Double(i) / 1375) + (rng.uniform() - 0.5) * 0.2) * 100).rounded() / 100)
        }
        let block = Self.roundTrip(samples)
        let perSample = Double(block.byteCount) / Double(samples.count)
        // Hundredths: a decimal block, about 1.2 bytes a sample (XOR of the doubles took over 6).
        #expect(perSample < 2, "\(perSample) bytes per sample, against 16 raw")
        // A value that does not change at a steady interval costs two bits a sample (timestamp
        // and value) after the first sample (128 bits raw and 3 for the decimal places) and the
        // first interval (16 bits), in a decimal block and in an XOR block alike.
        let flat = Self.roundTrip((0..<1000).map { Sample(timestamp: Timestamp(milliseconds: Self.t0 + Int64($0) * 1000), value: 42) })
        #expect(flat.bitCount == 131 + (16 + 1) + 998 * 2)
        let flatXOR = Self.roundTrip((0..<1000).map { Sample(timestamp: Timestamp(milliseconds: Self.t0 + Int64($0) * 1000), value: 1.0 / 3) })
        #expect(flatXOR.bitCount == 131 + (16 + 1) + 998 * 2)
    }

    @Test func decimalBlocksStoreTheChangeOfTheScaledValue() {
        // Three decimals, changing by at most 0.031 a sample: 1 + 2 + 7 bits a value at most.
        var rng = SplitMix64(seed: 5)
        var value = 55.0
        let samples = (0..<5000).map { i -> Sample in
            value = ((value + (rng.uniform() - 0.5) * 0.06) * 1000).rounded() / 1000
            return Sample(timestamp: Timestamp(milliseconds: Self.t0 + Int64(i) * 10_000), value: value)
        }
        let block = Self.roundTrip(samples)
        #expect(Double(block.bitCount) / 5000 < 12, "\(Double(block.bitCount) / 5000) bits a sample")
        // A first reading of 56 (no places) followed by tenths: one escape widens the scale, then
        // the tenths are compact again.
        let tenths = (0..<1000).map { Sample(timestamp: Timestamp(milliseconds: Self.t0 + Int64($0) * 10_000), value: 56 + Double($0 % 9) / 10) }
        let widened = Self.roundTrip(tenths)
        #expect(Double(widened.bitCount) / 1000 < 12, "\(Double(widened.bitCount) / 1000) bits a sample")
        // A value off the scale (more places than the block's) is kept exactly, and the block goes on.
        var mixed = samples.prefix(100).map { $0 }
        mixed[50].value = 1.0 / 3
        mixed[51].value = -0.0
        _ = Self.roundTrip(mixed)
    }

    @Test func anyValuesAndIrregularTimesComeBackExactly() {
        var rng = SplitMix64(seed: 11)
        var t = Self.t0
        var samples: [Sample] = []
        for i in 0..<5000 {
            // Jitter, long gaps (a day, a month), even a step back; values of every magnitude and sign.
            switch i % 500 {
            case 100: t += 86_400_000
            case 200: t += 40 * 86_400_000
            case 300: t -= 5_000
            default: t += 1000 + Int64(rng.next() % 50)
            }
            let value: Double
            switch i % 7 {
            case 0: value = Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF)  // any finite bit pattern
            case 1: value = -0.0
            case 2: value = .greatestFiniteMagnitude
            case 3: value = .leastNonzeroMagnitude
            default: value = (rng.uniform() - 0.5) * 1e6
            }
            samples.append(Sample(timestamp: Timestamp(milliseconds: t), value: value))
        }
        _ = Self.roundTrip(samples)
        #expect(GorillaBlock().samples.isEmpty)
        _ = Self.roundTrip([Sample(timestamp: Timestamp(milliseconds: 0), value: 1)])
        _ = Self.roundTrip([Sample(timestamp: Timestamp(milliseconds: Int64.min / 2), value: .nan),
                            Sample(timestamp: Timestamp(milliseconds: Int64.max / 2), value: .infinity)])
    }

    @Test func bitsRoundTripAtEveryWidthAndOffset() {
        var writer = BitWriter()
        var expected: [(UInt64, Int)] = []
        var rng = SplitMix64(seed: 3)
        for width in 1...64 {
            for _ in 0..<3 {
                let mask: UInt64 = width == 64 ? .max : (1 << UInt64(width)) - 1
                let v = rng.next() & mask
                writer.write(v, width)
                expected.append((v, width))
            }
        }
        var reader = BitReader(writer)
        for (v, width) in expected { #expect(reader.read(width) == v) }
    }
}

@Suite("Compressed history behind the rings")
struct CompressedHistoryTests {
    @Test func evictedSamplesStayReadableUpToTheBudget() {
        let store = SeriesStore(configuration: .init(capacity: 16, historyBytes: 2048, historyBlock: .seconds(100)))
        let key = SeriesKey(device: "pump-1", sensor: "bearing_temp")
        let all = (0..<3000).map { Sample(timestamp: Timestamp(milliseconds: Int64($0) * 1000), value: 50 + Double($0 % 17) * 0.25) }
        for s in all { store.append(s, to: key) }
        let everything = store.range(key, from: Timestamp(milliseconds: 0), to: Timestamp(milliseconds: 3_000_000))
        #expect(everything.count > 16 * 10, "history goes far beyond the ring's 16 samples: \(everything.count)")
        #expect(everything == Array(all.suffix(everything.count)), "exact, contiguous, oldest first")
        #expect(store.historyBytesInUse <= 2048 + 2048, "bounded: the budget plus the block being filled (\(store.historyBytesInUse))")
        // A window that straddles history and ring.
        let window = store.range(key, from: Timestamp(milliseconds: 2_950_000), to: Timestamp(milliseconds: 2_990_000))
        #expect(window == Array(all[2950...2990]))
    }

    @Test func withoutABudgetOnlyTheRingIsKept() {
        let store = SeriesStore(configuration: .init(capacity: 16))
        let key = SeriesKey(device: "pump-1", sensor: "bearing_temp")
        for i in 0..<100 { store.append(Sample(timestamp: Timestamp(milliseconds: Int64(i) * 1000), value: Double(i)), to: key) }
        #expect(store.range(key, from: Timestamp(milliseconds: 0), to: Timestamp(milliseconds: 100_000)).count == 16)
        #expect(store.historyBytesInUse == 0)
    }
}
