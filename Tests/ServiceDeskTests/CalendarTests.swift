import FieldwatchCore
import Foundation
import Testing
@testable import ServiceDesk

/// Local wall-clock time in a zone → Timestamp.
func local(_ text: String, _ zone: String) -> Timestamp {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: zone)!
    f.dateFormat = "yyyy-MM-dd HH:mm"
    return Timestamp(f.date(from: text)!)
}

func hours(_ h: Double) -> Int64 { Int64(h * 3_600_000) }

@Suite("Working calendars and SLA arithmetic")
struct CalendarTests {
    let shanghai = "Asia/Shanghai"
    /// Mon–Fri 08:30–12:00 and 13:30–18:00, Sat 09:00–12:00; National Day holiday on Thu 2026-10-01.
    var office: BusinessCalendar {
        let day = [BusinessCalendar.Window(start: 510, end: 720), BusinessCalendar.Window(start: 810, end: 1080)]
        return BusinessCalendar(weekly: [2: day, 3: day, 4: day, 5: day, 6: day, 7: [BusinessCalendar.Window(start: 540, end: 720)]],
                                holidays: ["2026-10-01"], timeZone: TimeZone(identifier: shanghai)!)
    }

    @Test func roundTheClockIsPlainArithmetic() {
        let c = BusinessCalendar.always()
        let t = Timestamp(milliseconds: 1_000)
        #expect(c.adding(hours(24), to: t).milliseconds == 1_000 + hours(24))
        #expect(c.workingTime(from: t, to: Timestamp(milliseconds: 5_000)) == 4_000)
    }

    @Test func aSplitShiftSkipsTheLunchBreak() {
        // Tuesday 2026-11-24 11:30 + 1 h = 30 min before lunch, 30 min after.
        #expect(office.adding(hours(1), to: local("2026-11-24 11:30", shanghai)) == local("2026-11-24 14:00", shanghai))
        #expect(office.workingTime(from: local("2026-11-24 11:00", shanghai), to: local("2026-11-24 14:00", shanghai)) == hours(1.5))
    }

    @Test func aFridayEveningFaultIsCountedFromSaturdayMorningAndMonday() {
        // Friday 17:30: 30 min on Friday, 3 h on Saturday, then Monday from 08:30.
        let start = local("2026-11-27 17:30", shanghai)
        #expect(office.adding(hours(2), to: start) == local("2026-11-28 10:30", shanghai))
        #expect(office.adding(hours(4), to: start) == local("2026-11-30 09:00", shanghai))
        // Sunday is closed: a fault on Sunday afternoon waits for Monday.
        #expect(office.adding(hours(1), to: local("2026-11-29 15:00", shanghai)) == local("2026-11-30 09:30", shanghai))
    }

    @Test func aHolidayHasNoWorkingTime() {
        // Wednesday 2026-09-30 17:00 + 2 h: 1 h on Wednesday, the Thursday holiday skipped, 1 h on Friday.
        #expect(office.adding(hours(2), to: local("2026-09-30 17:00", shanghai)) == local("2026-10-02 09:30", shanghai))
        #expect(office.workingTime(from: local("2026-10-01 00:00", shanghai), to: local("2026-10-02 00:00", shanghai)) == 0)
    }

    @Test func midnightIsNotAOneMinuteGap() {
        // A full-day calendar (00:00–24:00 every day) must be continuous across midnight (Zammad #3180).
        let allDay = [BusinessCalendar.Window(start: 0, end: 1440)]
        let c = BusinessCalendar(weekly: Dictionary(uniqueKeysWithValues: (1...7).map { ($0, allDay) }), holidays: [],
                                 timeZone: TimeZone(identifier: shanghai)!)
        #expect(c.workingTime(from: local("2026-11-27 23:30", shanghai), to: local("2026-11-28 00:30", shanghai)) == hours(1))
        #expect(c.adding(hours(1), to: local("2026-11-27 23:30", shanghai)) == local("2026-11-28 00:30", shanghai))
    }

    @Test func daylightSavingChangesTheLengthOfTheDay() {
        // Berlin springs forward on Sunday 2026-03-29 (02:00 → 03:00) and falls back on 2026-10-25.
        let allDay = [BusinessCalendar.Window(start: 0, end: 1440)]
        let c = BusinessCalendar(weekly: Dictionary(uniqueKeysWithValues: (1...7).map { ($0, allDay) }), holidays: [],
                                 timeZone: TimeZone(identifier: "Europe/Berlin")!)
        #expect(c.workingTime(from: local("2026-03-29 00:00", "Europe/Berlin"), to: local("2026-03-30 00:00", "Europe/Berlin")) == hours(23))
        #expect(c.workingTime(from: local("2026-10-25 00:00", "Europe/Berlin"), to: local("2026-10-26 00:00", "Europe/Berlin")) == hours(25))
        // 24 working hours from Saturday noon end at 13:00 local on the short Sunday.
        #expect(c.adding(hours(24), to: local("2026-03-28 12:00", "Europe/Berlin")) == local("2026-03-29 13:00", "Europe/Berlin"))
        // An office window 08:00–10:00 on the DST day is still two hours of working time.
        let morning = BusinessCalendar(weekly: [1: [BusinessCalendar.Window(start: 480, end: 600)]], holidays: [],
                                       timeZone: TimeZone(identifier: "Europe/Berlin")!)
        #expect(morning.workingTime(from: local("2026-03-29 00:00", "Europe/Berlin"), to: local("2026-03-30 00:00", "Europe/Berlin")) == hours(2))
    }

    @Test func aClosedPausePushesTheDeadlineByTheWorkingTimeItCovered() {
        let start = local("2026-11-24 09:00", shanghai)  // Tuesday
        let plain = SLA.deadline(start: start, target: .seconds(4 * 3600), calendar: office, pauses: [])
        #expect(plain == local("2026-11-24 14:30", shanghai))
        // Paused 10:00–15:00: 2 h before lunch and 1.5 h after count as paused working time (3.5 h).
        let pause = PauseInterval(start: local("2026-11-24 10:00", shanghai), end: local("2026-11-24 15:00", shanghai))
        #expect(SLA.deadline(start: start, target: .seconds(4 * 3600), calendar: office, pauses: [pause]) == local("2026-11-24 18:00", shanghai))
        #expect(SLA.elapsed(start: start, now: local("2026-11-24 16:00", shanghai), calendar: office, pauses: [pause]) == hours(2))
        // A pause after the deadline changes nothing.
        let late = PauseInterval(start: local("2026-11-25 09:00", shanghai), end: local("2026-11-25 10:00", shanghai))
        #expect(SLA.deadline(start: start, target: .seconds(4 * 3600), calendar: office, pauses: [late]) == plain)
    }

    @Test func anOpenPauseLeavesTheDeadlineUnknown() {
        let start = local("2026-11-24 09:00", shanghai)
        let open = PauseInterval(start: local("2026-11-24 10:00", shanghai), end: nil)
        #expect(SLA.deadline(start: start, target: .seconds(4 * 3600), calendar: office, pauses: [open]) == nil)
    }
}
