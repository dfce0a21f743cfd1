import FieldwatchCore
import Testing
@testable import TimeSeries

@Suite("Rollup of a window into buckets")
struct RollupTests {
    func samples(_ pairs: [(Int64, Double)]) -> [Sample] { pairs.map { Sample(timestamp: Timestamp(milliseconds: $0.0), value: $0.1) } }

    @Test func bucketsHoldMinMaxMeanAndCountAndEmptyOnesAreLeftOut() {
        let buckets = Rollup.buckets(samples([(1_000, 1), (1_400, 3), (2_100, 5), (4_000, 7), (4_999, 9)]), origin: Timestamp(milliseconds: 1_000),
                                     widthMilliseconds: 1_000)
        #expect(buckets == [
            RollupBucket(start: Timestamp(milliseconds: 1_000), count: 2, min: 1, max: 3, mean: 2),
            RollupBucket(start: Timestamp(milliseconds: 2_000), count: 1, min: 5, max: 5, mean: 5),
            RollupBucket(start: Timestamp(milliseconds: 4_000), count: 2, min: 7, max: 9, mean: 8),
        ])
    }

    @Test func samplesBeforeTheOriginAndOutOfOrderLandInTheirOwnBucket() {
        let buckets = Rollup.buckets(samples([(2_500, 4), (-1, 1), (500, 2), (2_000, 6)]), origin: Timestamp(milliseconds: 0), widthMilliseconds: 1_000)
        #expect(buckets.map(\.start.milliseconds) == [-1_000, 0, 2_000])
        #expect(buckets.map(\.count) == [1, 1, 2] && buckets.last?.mean == 5)
        #expect(Rollup.buckets([], origin: Timestamp(milliseconds: 0), widthMilliseconds: 10).isEmpty)
    }
}
