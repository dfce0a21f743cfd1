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
    @Test func quietDuringWarmupAndOnASteadySignal() {
        var s = GaugeAnomalyScorer()
        let scores = (0..<500).map { s.score(10 + sin(Double($0) / 10) * 0.5) }
        #expect(scores.prefix(50).allSatisfy { $0 == 0 })
        #expect(scores.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(scores.max()! < 0.3)
    }

    @Test func aLevelShiftScoresHighOnceThenIsDamped() {
        var s = GaugeAnomalyScorer()
        var scores: [Double] = []
        for i in 0..<400 { scores.append(s.score(10 + Double(i % 5) * 0.1)) }
        for i in 0..<10 { scores.append(s.score(30 + Double(i % 5) * 0.1)) }
        #expect(scores[400] == 1)
        #expect(scores[401...].allSatisfy { $0 <= 0.5 }, "one event, one alarm")
    }

    @Test func nonFiniteInputScoresZeroAndDoesNotPoisonTheBaseline() {
        var s = GaugeAnomalyScorer()
        for i in 0..<100 { _ = s.score(Double(i % 3)) }
        #expect(s.score(.nan) == 0 && s.score(.infinity) == 0)
        #expect(s.score(1) < 0.2)
    }
}
