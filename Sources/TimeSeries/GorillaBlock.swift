import FieldwatchCore

/// A compressed, append-only block of samples in the encoding of Facebook's Gorilla
/// (Pelkonen et al., VLDB 2015): timestamps as delta-of-deltas, values as the XOR with the
/// previous value, each in a variable number of bits. A regular series (same interval, slowly
/// changing value) costs a bit or two per timestamp and a few bits per value, where the raw
/// ring spends 16 bytes a sample. Lossless: `samples` gives back exactly what was appended.
///
/// Timestamps are milliseconds, so the delta-of-delta ranges are the paper's with a 64-bit
/// escape for gaps beyond ±2^31 ms. Timestamps should not decrease (a ring's eviction order);
/// a decrease is still encoded exactly, only less compactly.
///
/// Sensor readings are mostly decimals with a fixed number of places (55.123 °C), whose
/// doubles differ in nearly every mantissa bit from one reading to the next, which XOR
/// encodes poorly. So when the block's first value is a decimal of at most six places, the
/// block is *decimal*: each value that is exactly n / 10^k at that scale is stored as the
/// difference of n from the previous one (a few bits), and any other value as its raw 64 bits.
/// Otherwise the block uses the paper's XOR encoding throughout.
public struct GorillaBlock: Sendable, Equatable {
    private var bits = BitWriter()
    public private(set) var count = 0
    public private(set) var first: Timestamp?
    public private(set) var last: Timestamp?
    private var previousDelta: Int64 = 0
    private var previousValue: UInt64 = 0
    private var previousLeading = 64
    private var previousTrailing = 0
    /// Decimal places of a decimal block (nil: an XOR block), and the previous scaled value.
    private var scale: Int?
    private var previousScaled: Int64 = 0

    public init() {}

    static let powersOfTen: [Double] = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]

    /// `value` as n / 10^places, exactly (bit for bit), if it is one.
    static func scaled(_ value: Double, places: Int) -> Int64? {
        let p = powersOfTen[places]
        let n = (value * p).rounded()
        // Through the integer, as decoding goes: -0 (or anything else the integer cannot carry) stays off the scale.
        guard abs(n) < 9_007_199_254_740_992, (Double(Int64(n)) / p).bitPattern == value.bitPattern else { return nil }
        return Int64(n)
    }

    /// Bytes the encoded samples take (whole 64-bit words).
    public var byteCount: Int { bits.words.count * 8 }
    /// Bits written so far.
    public var bitCount: Int { bits.count }

    public mutating func append(_ sample: Sample) {
        let t = sample.timestamp.milliseconds
        let v = sample.value.bitPattern
        defer {
            count += 1
            last = sample.timestamp
        }
        guard let lastTime = last else {
            first = sample.timestamp
            bits.write(UInt64(bitPattern: t), 64)
            bits.write(v, 64)
            previousValue = v
            // Three bits: the decimal places (0...6), or 7 for an XOR block.
            scale = (0...6).first { Self.scaled(sample.value, places: $0) != nil }
            bits.write(UInt64(scale ?? 7), 3)
            if let scale { previousScaled = Self.scaled(sample.value, places: scale)! }
            return
        }
        let delta = t &- lastTime.milliseconds
        writeDeltaOfDelta(delta &- previousDelta)
        previousDelta = delta
        if let scale {
            writeDecimal(sample.value, places: scale)
        } else {
            writeValue(v)
        }
    }

    /// '0' the same value as before; '10' + the zigzagged change of n in 6, 12, 20 or 64 bits
    /// ('0', '10', '110', '111' before them); '11' + the raw 64 bits of a value off the scale.
    private mutating func writeDecimal(_ value: Double, places: Int) {
        guard let n = Self.scaled(value, places: places) else {
            bits.write(0b11, 2)
            bits.write(value.bitPattern, 64)
            // A value with more places than the block had so far widens the scale from here on
            // (the first reading of 1.60 said one place; 1.63 says two).
            if let wider = Self.widerScale(value, than: places) {
                scale = wider
                previousScaled = Self.scaled(value, places: wider)!
            }
            return
        }
        let d = n &- previousScaled
        previousScaled = n
        guard d != 0 else {
            bits.write(0, 1)
            return
        }
        bits.write(0b10, 2)
        let z = UInt64(bitPattern: (d << 1) ^ (d >> 63))
        switch z {
        case ..<(1 << 6): bits.write(0, 1); bits.write(z, 6)
        case ..<(1 << 12): bits.write(0b10, 2); bits.write(z, 12)
        case ..<(1 << 20): bits.write(0b110, 3); bits.write(z, 20)
        default: bits.write(0b111, 3); bits.write(z, 64)
        }
    }

    /// The fewest decimal places beyond `places` (up to six) that carry `value` exactly.
    static func widerScale(_ value: Double, than places: Int) -> Int? {
        places < 6 ? ((places + 1)...6).first { scaled(value, places: $0) != nil } : nil
    }

    private static func readDecimal(_ reader: inout BitReader, previous: inout Int64, places: inout Int) -> Double {
        if reader.read(1) == 0 { return Double(previous) / powersOfTen[places] }
        if reader.read(1) == 1 {
            let value = Double(bitPattern: reader.read(64))
            if let wider = widerScale(value, than: places) {
                places = wider
                previous = scaled(value, places: wider)!
            }
            return value
        }
        let z: UInt64
        if reader.read(1) == 0 { z = reader.read(6) }
        else if reader.read(1) == 0 { z = reader.read(12) }
        else if reader.read(1) == 0 { z = reader.read(20) }
        else { z = reader.read(64) }
        previous &+= Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1)))
        return Double(previous) / powersOfTen[places]
    }

    private mutating func writeDeltaOfDelta(_ d: Int64) {
        switch d {
        case 0: bits.write(0, 1)
        case -63...64: bits.write(0b10, 2); bits.write(UInt64(bitPattern: d &+ 63), 7)
        case -255...256: bits.write(0b110, 3); bits.write(UInt64(bitPattern: d &+ 255), 9)
        case -2047...2048: bits.write(0b1110, 4); bits.write(UInt64(bitPattern: d &+ 2047), 12)
        case Int64(Int32.min)...Int64(Int32.max): bits.write(0b11110, 5); bits.write(UInt64(UInt32(bitPattern: Int32(d))), 32)
        default: bits.write(0b11111, 5); bits.write(UInt64(bitPattern: d), 64)
        }
    }

    private mutating func writeValue(_ v: UInt64) {
        let x = v ^ previousValue
        previousValue = v
        guard x != 0 else {
            bits.write(0, 1)
            return
        }
        bits.write(1, 1)
        // Leading zeros are stored in 5 bits, so at most 31.
        let leading = min(x.leadingZeroBitCount, 31)
        let trailing = x.trailingZeroBitCount
        if leading >= previousLeading && trailing >= previousTrailing {
            // Fits the previous window: only its meaningful bits.
            bits.write(0, 1)
            let width = 64 - previousLeading - previousTrailing
            bits.write(x >> UInt64(previousTrailing), width)
        } else {
            let width = 64 - leading - trailing
            bits.write(1, 1)
            bits.write(UInt64(leading), 5)
            // A width of 64 does not fit 6 bits; 0 stands for it (a width of 0 never occurs).
            bits.write(UInt64(width & 63), 6)
            bits.write(x >> UInt64(trailing), width)
            previousLeading = leading
            previousTrailing = trailing
        }
    }

    /// Every sample appended, in order.
    public var samples: [Sample] {
        // The bits were written by `append`, so they decode without a problem.
        (try? Self.decode(bits, count: count).samples) ?? []
    }

    /// What decoding leaves behind: the samples, and the encoder's state after the last of them,
    /// which is what a block read back from its bytes needs to go on appending.
    private struct Decoded {
        var samples: [Sample] = []
        var previousDelta: Int64 = 0
        var previousValue: UInt64 = 0
        var previousLeading = 64
        var previousTrailing = 0
        var scale: Int?
        var previousScaled: Int64 = 0
    }

    /// Decodes `count` samples from `bits`. Throws, instead of trapping or reading past the
    /// end, on bits that `append` cannot have written (a damaged saved block).
    private static func decode(_ bits: BitWriter, count: Int) throws(SeriesSnapshotError) -> Decoded {
        var d = Decoded()
        guard count > 0 else { return d }
        d.samples.reserveCapacity(count)
        var reader = BitReader(bits)
        var t = Int64(bitPattern: reader.read(64))
        var v = reader.read(64)
        d.samples.append(Sample(timestamp: Timestamp(milliseconds: t), value: Double(bitPattern: v)))
        var places = Int(reader.read(3))
        let decimal = places < 7
        var scaled = decimal ? Self.scaled(Double(bitPattern: v), places: places) ?? 0 : 0
        var delta: Int64 = 0
        var leading = 64
        var trailing = 0
        for _ in 1..<count {
            delta &+= readDeltaOfDelta(&reader)
            t &+= delta
            if decimal {
                d.samples.append(Sample(timestamp: Timestamp(milliseconds: t), value: Self.readDecimal(&reader, previous: &scaled, places: &places)))
                continue
            }
            if reader.read(1) == 1 {
                if reader.read(1) == 1 {
                    leading = Int(reader.read(5))
                    let width = Int(reader.read(6))
                    trailing = 64 - leading - (width == 0 ? 64 : width)
                    // The encoder never writes a window wider than the word.
                    guard trailing >= 0 else { throw SeriesSnapshotError("a Gorilla block's value window (\(leading) leading zeros, \(width) bits) does not fit 64 bits") }
                }
                let width = 64 - leading - trailing
                v ^= reader.read(width) << UInt64(trailing)
            }
            d.samples.append(Sample(timestamp: Timestamp(milliseconds: t), value: Double(bitPattern: v)))
        }
        guard !reader.overran, reader.position == bits.count else {
            throw SeriesSnapshotError("a Gorilla block of \(count) samples has \(bits.count) bits, but its samples take \(reader.overran ? "more" : "\(reader.position)")")
        }
        d.previousDelta = delta
        d.previousValue = v
        d.previousLeading = leading
        d.previousTrailing = trailing
        d.scale = decimal ? places : nil
        d.previousScaled = scaled
        return d
    }

    private static func readDeltaOfDelta(_ reader: inout BitReader) -> Int64 {
        if reader.read(1) == 0 { return 0 }
        if reader.read(1) == 0 { return Int64(reader.read(7)) - 63 }
        if reader.read(1) == 0 { return Int64(reader.read(9)) - 255 }
        if reader.read(1) == 0 { return Int64(reader.read(12)) - 2047 }
        if reader.read(1) == 0 { return Int64(Int32(bitPattern: UInt32(reader.read(32)))) }
        return Int64(bitPattern: reader.read(64))
    }
}

// MARK: - Saved form

extension GorillaBlock {
    /// The version of `serialized` this code writes and reads.
    public static let serializedFormat: UInt8 = 1

    /// The block as bytes, to be saved and read back with `init(serialized:)`: the format (1
    /// byte), the sample count and the bit count (UInt32, little-endian), then the bit stream
    /// itself, most significant bit first, in as many whole bytes as it needs. 9 bytes more
    /// than the bits: the stream is already compact, so it is stored as it is.
    public var serialized: [UInt8] {
        var bytes: [UInt8] = [Self.serializedFormat]
        bytes.reserveCapacity(9 + (bits.count + 7) / 8)
        withUnsafeBytes(of: UInt32(count).littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(bits.count).littleEndian) { bytes.append(contentsOf: $0) }
        var remaining = (bits.count + 7) / 8
        for word in bits.words where remaining > 0 {
            withUnsafeBytes(of: word.bigEndian) { bytes.append(contentsOf: $0.prefix(remaining)) }
            remaining -= 8
        }
        return bytes
    }

    /// Reads back a block saved with `serialized`, able to go on appending where it stopped
    /// (the encoder's state is rebuilt by decoding it once). Throws, naming what is wrong, on
    /// an unknown format or bits that do not decode to the stated samples.
    public init(serialized bytes: some Collection<UInt8>) throws(SeriesSnapshotError) {
        let bytes = Array(bytes)
        guard let format = bytes.first else { throw SeriesSnapshotError("a saved Gorilla block is empty") }
        guard format == Self.serializedFormat else {
            throw SeriesSnapshotError("a saved Gorilla block has format \(format); this version reads format \(Self.serializedFormat) only")
        }
        guard bytes.count >= 9 else { throw SeriesSnapshotError("a saved Gorilla block has \(bytes.count) bytes, fewer than its 9-byte header") }
        func uint32(at offset: Int) -> Int {
            Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 24
        }
        let count = uint32(at: 1)
        let bitCount = uint32(at: 5)
        guard bytes.count - 9 == (bitCount + 7) / 8 else {
            throw SeriesSnapshotError("a saved Gorilla block of \(bitCount) bits has \(bytes.count - 9) bytes of them, not \((bitCount + 7) / 8)")
        }
        // The first sample takes 131 bits and every later one at least 2: this bounds `count`
        // before anything is allocated for it.
        guard count == 0 ? bitCount == 0 : bitCount >= 131 && (count - 1) * 2 <= bitCount - 131 else {
            throw SeriesSnapshotError("a saved Gorilla block cannot hold \(count) samples in \(bitCount) bits")
        }
        var writer = BitWriter()
        writer.count = bitCount
        writer.words.reserveCapacity((bitCount + 63) / 64)
        var index = 9
        while index < bytes.count {
            var word: UInt64 = 0
            for i in 0..<8 { word = word << 8 | UInt64(index + i < bytes.count ? bytes[index + i] : 0) }
            writer.words.append(word)
            index += 8
        }
        // Bits past the end stay zero, as `append` leaves them.
        if bitCount & 63 != 0, let last = writer.words.last {
            writer.words[writer.words.count - 1] = last & ~(UInt64.max >> UInt64(bitCount & 63))
        }
        let decoded = try Self.decode(writer, count: count)
        self.init()
        bits = writer
        self.count = count
        first = decoded.samples.first?.timestamp
        last = decoded.samples.last?.timestamp
        previousDelta = decoded.previousDelta
        previousValue = decoded.previousValue
        previousLeading = decoded.previousLeading
        previousTrailing = decoded.previousTrailing
        scale = decoded.scale
        previousScaled = decoded.previousScaled
    }
}

/// Bits appended most significant first into 64-bit words.
struct BitWriter: Sendable, Equatable {
    var words: [UInt64] = []
    /// Bits written.
    var count = 0

    mutating func write(_ value: UInt64, _ width: Int) {
        guard width > 0 else { return }
        let value = width == 64 ? value : value & ((1 << UInt64(width)) - 1)
        let used = count & 63
        if used == 0 { words.append(0) }
        let free = 64 - used
        if width <= free {
            words[words.count - 1] |= value << UInt64(free - width)
        } else {
            words[words.count - 1] |= value >> UInt64(width - free)
            words.append(value << UInt64(64 - (width - free)))
        }
        count += width
    }
}

struct BitReader {
    let words: [UInt64]
    /// Bits there are to read.
    let limit: Int
    var position = 0
    /// A read went past `limit` (it returned zeros): the bits were not written by `BitWriter`
    /// for the count they were decoded with.
    private(set) var overran = false

    init(_ writer: BitWriter) {
        words = writer.words
        limit = writer.count
    }

    mutating func read(_ width: Int) -> UInt64 {
        guard width > 0 else { return 0 }
        guard position + width <= limit else {
            overran = true
            position = limit
            return 0
        }
        let index = position >> 6
        let used = position & 63
        let free = 64 - used
        position += width
        let mask: UInt64 = width == 64 ? .max : (1 << UInt64(width)) - 1
        if width <= free {
            return (words[index] >> UInt64(free - width)) & mask
        }
        let high = words[index] & ((1 << UInt64(free)) - 1)
        let lowWidth = width - free
        return ((high << UInt64(lowWidth)) | (words[index + 1] >> UInt64(64 - lowWidth))) & mask
    }
}
