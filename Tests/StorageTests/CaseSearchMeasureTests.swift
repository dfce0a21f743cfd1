import FieldwatchCore
import FieldwatchTesting
import Foundation
import GRDB
import Testing
@testable import Storage

/// Character pairs against SQLite's trigram tokenizer, on a small labelled set of repair cases
/// and the questions engineers and customers ask about them (Chinese and English). The case
/// library uses pairs; this measures the choice and fails if it stops being the better one.
@Suite("Case search: character pairs against trigrams")
struct CaseSearchMeasureTests {
    static let cases: [(id: Int64, text: String)] = [
        (1, "水泵跳闸 电机过载 热继电器动作 复位后重新启动 Pump tripped: motor overload relay reset"),
        (2, "轴承磨损 振动增大 更换驱动端轴承 SKF-6309-2Z Bearing wear, replaced the drive-end bearing"),
        (3, "轴承过热 润滑脂不足 补充润滑脂 Bearing overheating, regreased with LGHP2"),
        (4, "出水压力低 进口滤网堵塞 清洗滤网 Low discharge pressure, cleaned the suction strainer"),
        (5, "机械密封泄漏 更换机械密封 Mechanical seal leak, replaced the 35 mm seal"),
        (6, "冷凝器压力高 冷却水不足 清洗冷凝器管 Condenser pressure high, brushed the condenser tubes"),
        (7, "压缩机过载 电流过高 检查电源相序 Compressor overload, checked the supply phases"),
        (8, "发电机冷却液温度高 风扇皮带断裂 更换皮带 补充冷却液 Generator coolant hot, fan belt broken, replaced"),
        (9, "机油压力低 更换机油滤清器 Oil pressure low, changed the oil filter"),
        (10, "蓄电池电压低 启动失败 更换蓄电池 Battery low, the generator would not start, batteries replaced"),
        (11, "电梯门机故障 门滚轮磨损 更换门滚轮 Lift door operator worn, replaced the door rollers"),
        (12, "电梯平层不准 调整平层感应器 Lift levelling inaccurate, adjusted the levelling sensor"),
    ]
    /// Question → the case that answers it.
    static let questions: [(String, Int64)] = [
        ("水泵跳闸了怎么办", 1), ("跳闸", 1), ("过载", 1), ("轴承磨损", 2), ("换轴承", 2), ("润滑脂", 3), ("轴承很热", 3), ("压力低", 4),
        ("滤网", 4), ("漏水 密封", 5), ("冷凝器", 6), ("压缩机", 7), ("皮带断了", 8), ("冷却液", 8), ("机油", 9), ("电瓶 启动不了", 10),
        ("门滚轮", 11), ("平层", 12), ("bearing wear", 2), ("fan belt", 8), ("condenser tubes", 6), ("oil filter", 9),
    ]

    /// hit@1 and mean reciprocal rank of the labelled questions over one index.
    static func measure(_ db: Database, table: String, query: (String) -> String?) throws -> (hit1: Double, mrr: Double) {
        var hits = 0.0, rr = 0.0
        for (q, expected) in questions {
            guard let match = query(q) else { continue }
            let ranked = try Int64.fetchAll(db, sql: "SELECT rowid FROM \(table) WHERE \(table) MATCH ? ORDER BY bm25(\(table)) LIMIT 10", arguments: [match])
            if ranked.first == expected { hits += 1 }
            if let i = ranked.firstIndex(of: expected) { rr += 1 / Double(i + 1) }
        }
        return (hits / Double(questions.count), rr / Double(questions.count))
    }

    @Test func characterPairsRankBetterThanTrigrams() throws {
        let queue = try DatabaseQueue(path: try makeTemporaryDirectory().appendingPathComponent("measure.db").path)
        let (pairs, trigrams) = try queue.write { db -> ((Double, Double), (Double, Double)) in
            try db.execute(sql: "CREATE VIRTUAL TABLE pairs USING fts5(terms, tokenize = 'unicode61')")
            try db.execute(sql: "CREATE VIRTUAL TABLE trigrams USING fts5(text, tokenize = 'trigram')")
            for c in Self.cases {
                try db.execute(sql: "INSERT INTO pairs (rowid, terms) VALUES (?, ?)", arguments: [c.id, CaseRecord.terms(c.text)])
                try db.execute(sql: "INSERT INTO trigrams (rowid, text) VALUES (?, ?)", arguments: [c.id, c.text])
            }
            let pairs = try Self.measure(db, table: "pairs") { q in
                let terms = Set(CaseRecord.terms(q).split(separator: " ")).map { "\"\($0)\"" }
                return terms.isEmpty ? nil : terms.joined(separator: " OR ")
            }
            // Trigrams: every three-character piece of the question (shorter questions cannot be searched at all).
            let trigrams = try Self.measure(db, table: "trigrams") { q in
                let chars = Array(q.replacingOccurrences(of: " ", with: ""))
                guard chars.count >= 3 else { return nil }
                return Set((0...(chars.count - 3)).map { "\"\(String(chars[$0..<$0 + 3]))\"" }).joined(separator: " OR ")
            }
            return (pairs, trigrams)
        }
        print(String(format: "case search on %d labelled questions: character pairs hit@1 %.2f, MRR %.2f; trigrams hit@1 %.2f, MRR %.2f",
                     Self.questions.count, pairs.0, pairs.1, trigrams.0, trigrams.1))
        #expect(pairs.0 >= trigrams.0 && pairs.1 >= trigrams.1)
        #expect(pairs.0 >= 0.8, "the pairs must find most of the labelled answers first")
    }
}
