import FieldwatchCore
import Testing

@Suite("Delay histogram")
struct DelayHistogramTests {
    @Test func delaysLandInTheirBucketsAndQuantilesReadTheBound() {
        var h = DelayHistogram()
        #expect(h.quantileUpperBound(0.5) == nil)
        for _ in 0..<98 { h.record(.microseconds(1500)) }  // (1 ms, 2 ms]
        h.record(.milliseconds(7))                          // (5 ms, 10 ms]
        h.record(.seconds(30))                              // past the last bound
        #expect(h.count == 100)
        #expect(h.quantileUpperBound(0.5) == 0.002)
        #expect(h.quantileUpperBound(0.99) == 0.01)
        #expect(h.quantileUpperBound(1) == .infinity)
        #expect(abs(h.sum - (98 * 0.0015 + 0.007 + 30)) < 1e-9)
        let cumulative = h.cumulative
        #expect(cumulative.count == DelayHistogram.bounds.count + 1)
        #expect(cumulative.first { $0.upperBound == 0.002 }?.count == 98)
        #expect(cumulative.first { $0.upperBound == 0.01 }?.count == 99)
        #expect(cumulative.last?.count == 100 && cumulative.last?.upperBound == .infinity)
    }

    @Test func exactBoundsBelongToTheirBucketAndBadValuesCountAsZero() {
        var h = DelayHistogram()
        h.record(seconds: 0.005)
        h.record(seconds: -1)
        h.record(seconds: .nan)
        #expect(h.counts[2] == 1 && h.counts[0] == 2 && h.sum == 0.005)
    }
}
