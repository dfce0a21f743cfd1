import FieldwatchCore
import Foundation
import Testing
@testable import Detection

/// Hand-worked cases of the NAB rule. Files are 20 rows long (probation: 3 rows).
@Suite("NAB scoring")
struct NABScoringTests {
    let p = NABScoring.Profile.standard
    func flags(_ rows: Int, _ at: [Int]) -> [Bool] { (0..<rows).map { at.contains($0) } }
    let sig1 = NABScoring.sigmoid(-1)  // 0.986614...

    @Test func sigmoidValues() {
        #expect(abs(NABScoring.sigmoid(0)) < 1e-12)
        #expect(abs(sig1 - 0.9866142981514305) < 1e-12)
        #expect(NABScoring.sigmoid(3.5) == -1)
        #expect(abs(NABScoring.sigmoid(1) + 0.9866142981514305) < 1e-12)
    }

    @Test func probationIsFifteenPercentAtMost750() {
        #expect(NABScoring.probation(rows: 20) == 3)
        #expect(NABScoring.probation(rows: 100_000) == 750)
    }

    @Test func detectionOnAWindowsFirstRowEarnsExactlyATp() {
        let w = [NABScoring.Window(first: 10, last: 14)]
        let r = NABScoring.score(detections: flags(20, [10]), windows: w, profile: p)
        #expect(abs(r.raw - 1) < 1e-12 && r.truePositives == 1 && r.falseNegatives == 0)
        #expect(abs(r.normalised(p) - 100) < 1e-9)
    }

    @Test func aLateDetectionEarnsLessAndOnlyTheFirstCounts() {
        // Window rows 10...14 (w = 5). Detection at 14: y = -(14-14+1)/5 = -0.2, σ(-0.2) = 2/(1+e^-1) - 1.
        let w = [NABScoring.Window(first: 10, last: 14)]
        let r = NABScoring.score(detections: flags(20, [14]), windows: w, profile: p)
        let expected = (2 / (1 + exp(-1.0)) - 1) / sig1  // 0.46211... / 0.98661... = 0.468388...
        #expect(abs(r.raw - expected) < 1e-12)
        let both = NABScoring.score(detections: flags(20, [12, 13]), windows: w, profile: p)
        // Only row 12 counts: y = -(14-12+1)/5 = -0.6.
        #expect(abs(both.raw - NABScoring.sigmoid(-0.6) / sig1) < 1e-12 && both.truePositives == 1 && both.falsePositives == 0)
    }

    @Test func aMissedWindowCostsAFnAndTheNullScoreIsZero() {
        let w = [NABScoring.Window(first: 10, last: 14)]
        let r = NABScoring.score(detections: flags(20, []), windows: w, profile: NABScoring.Profile.rewardLowFN)
        #expect(r.raw == -2 && r.falseNegatives == 1)
        #expect(r.normalised(.rewardLowFN) == 0)
    }

    @Test func falseAlarmsCostByDistanceFromThePreviousWindow() {
        let w = [NABScoring.Window(first: 5, last: 9)]
        // Row 4 lies before any window: the full -A_fp. Row 11: y = (11-9)/(5-1) = 0.5.
        // Row 19: y = 10/4 = 2.5. Plus the window itself is missed: -1.
        let r = NABScoring.score(detections: flags(20, [4, 11, 19]), windows: w, profile: p)
        let expected = -0.11 + 0.11 * NABScoring.sigmoid(0.5) + 0.11 * NABScoring.sigmoid(2.5) - 1
        #expect(abs(r.raw - expected) < 1e-12 && r.falsePositives == 3 && r.falseNegatives == 1)
    }

    @Test func detectionsInProbationAreIgnored() {
        let r = NABScoring.score(detections: flags(20, [0, 1, 2]), windows: [], profile: p)
        #expect(r.raw == 0 && r.falsePositives == 0)
    }

    @Test func windowsAreRowsBetweenTheTimestamps() {
        let ts = (0..<10).map { Timestamp(milliseconds: Int64($0) * 1000) }
        let w = NABScoring.windows([(Timestamp(milliseconds: 2500), Timestamp(milliseconds: 6000))], timestamps: ts)
        #expect(w == [NABScoring.Window(first: 3, last: 6)])
    }

    @Test func theBestThresholdIsChosenOnTheCorpus() {
        // One window; scores rise early inside it and one false spike of 0.5 before it.
        var scores = [Double](repeating: 0.1, count: 20)
        scores[6] = 0.5
        scores[10] = 0.9
        let files = [(scores: scores, windows: [NABScoring.Window(first: 10, last: 14)])]
        let best = NABScoring.bestThreshold(files: files, profile: p, candidates: [0.3, 0.6, 0.95])
        #expect(best.threshold == 0.6 && abs(best.result.normalised(p) - 100) < 1e-9)
    }
}

@Suite("GaugeAnomalyScorer")
struct GaugeAnomalyScorerTests {
    /// One sample every 5 minutes from 2026-03-02 00:00 UTC.
    static func sample(_ i: Int, _ value: Double) -> Sample {
        Sample(timestamp: Timestamp(milliseconds: 1_772_409_600_000 + Int64(i) * 300_000), value: value)
    }

    /// A repeatable jitter in [-1, 1] (no random generator, so a failure reproduces).
    static func jitter(_ i: Int) -> Double { sin(Double(i) * 12.9898) * 0.5 + sin(Double(i) * 78.233) * 0.5 }

    /// A daily cycle between 40 and 60 with a little noise.
    static func daily(_ i: Int) -> Double { 50 + 10 * sin(2 * .pi * Double(i) / 288) + jitter(i) }

    @Test func quietDuringWarmupAndBounded() {
        var s = GaugeAnomalyScorer()
        let scores = (0..<3000).map { s.score(Self.sample($0, Self.daily($0))) }
        #expect(scores.prefix(100).allSatisfy { $0 == 0 }, "no score before the records are warm")
        #expect(scores.allSatisfy { $0 >= 0 && $0 < 1 })
    }

    @Test func aNormalDailyCycleIsNotAnAnomaly() {
        var s = GaugeAnomalyScorer()
        // Four days to learn, then six more of the same. Noise sometimes ties its own record
        // (a score near 0.5); it never beats it by half (0.6).
        let scores = (0..<(10 * 288)).map { s.score(Self.sample($0, Self.daily($0))) }
        let late = scores[(4 * 288)...]
        #expect(late.max()! < 0.6, "highest \(late.max()!)")
    }

    @Test func aLevelShiftScoresHighOnceThenIsDamped() {
        var s = GaugeAnomalyScorer()
        var scores: [Double] = []
        for i in 0..<1000 { scores.append(s.score(Self.sample(i, 10 + Self.jitter(i) * 0.2))) }
        for i in 1000..<1050 { scores.append(s.score(Self.sample(i, 14 + Self.jitter(i) * 0.2))) }
        #expect(scores[1000] > 0.9, "a step of 20 standard deviations is far beyond any record")
        let high = scores[1000...].filter { $0 >= 0.5 }.count
        #expect(high <= 3, "one event raises one alarm, not \(high)")
    }

    @Test func aValueNormalInLevelButAtTheWrongHourScores() {
        var s = GaugeAnomalyScorer()
        var scores: [Double] = []
        for i in 0..<(5 * 288) { scores.append(s.score(Self.sample(i, Self.daily(i)))) }
        // Day 6: the peak's level (60) held through the night, when the cycle is at its trough.
        let night = (5 * 288 + 180)..<(5 * 288 + 230)
        for i in night { scores.append(s.score(Self.sample(i, 59 + Self.jitter(i)))) }
        #expect(scores[(5 * 288)...].max()! > 0.8, "the seasonal feature sees it: \(scores.suffix(50).max()!)")
        #expect(scores.prefix(5 * 288).dropFirst(2 * 288).allSatisfy { $0 < 0.6 })
    }

    @Test func moreFrequentSpikesRaiseTheLevelFeature() {
        var s = GaugeAnomalyScorer()
        var scores: [Double] = []
        // A spike every 50 samples is normal; then one every 3.
        for i in 0..<2000 { scores.append(s.score(Self.sample(i, (i % 50 == 0 ? 5 : 1) + Self.jitter(i) * 0.05))) }
        for i in 2000..<2060 { scores.append(s.score(Self.sample(i, (i % 3 == 0 ? 5 : 1) + Self.jitter(i) * 0.05))) }
        #expect(scores[1000..<2000].allSatisfy { $0 < 0.6 }, "the usual spikes are learnt")
        #expect(scores[2000...].max()! > 0.65)
    }

    @Test func nonFiniteInputScoresZeroAndDoesNotPoisonTheBaseline() {
        var fed = GaugeAnomalyScorer()
        var clean = GaugeAnomalyScorer()
        for i in 0..<500 {
            _ = fed.score(Self.sample(i, 10 + Self.jitter(i)))
            _ = clean.score(Self.sample(i, 10 + Self.jitter(i)))
        }
        #expect(fed.score(Self.sample(500, .nan)) == 0 && fed.score(Self.sample(501, .infinity)) == 0)
        let after = (502..<600).map { fed.score(Self.sample($0, 10 + Self.jitter($0))) }
        let expected = (502..<600).map { clean.score(Self.sample($0, 10 + Self.jitter($0))) }
        #expect(after == expected, "the non-finite samples taught nothing")
    }
}
