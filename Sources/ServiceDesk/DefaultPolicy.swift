extension ServicePolicy {
    /// The built-in default policy as YAML: byte for byte ServicePolicy/example.yaml (a test
    /// checks both). Stored in the database when the gateway runs without a policy file.
    public static let defaultYAML = #"""
# The service policy Fieldwatch uses when none is given: the brief's numbers.
# Copy this file, change it, check it with `fieldwatch policy validate FILE`,
# and start the gateway with `fieldwatch serve --policy FILE`.
schema: 1

# Grouping beyond one ticket per (device, fault code): a machine fault on a device whose open
# predictive ticket was active within `window` joins that ticket as a symptom (0s: off); when
# every device of a site is out of contact at once, one SITE_OFFLINE ticket stands for them.
correlation:
  window: 10m
  site_offline: true

# Working calendars. SLA targets are counted in working time on one of these, in the
# site's time zone (from the inventory) unless the calendar names its own `timezone:`.
calendars:
  round-the-clock: always
  office:
    hours:
      mon-fri: [08:30-12:00, 13:30-18:00]
      sat: [09:00-12:00]
    holidays: []

# Grade = first rule whose conditions all hold. Conditions: severity (warning | critical),
# tier (standard | vip), criticality_at_least / criticality_at_most (the profile's 1…5).
# The last rule must have no conditions.
grading:
  - when: { severity: critical }
    grade: urgent
  - when: { severity: warning, tier: vip, criticality_at_least: 4 }
    grade: urgent
  - when: { severity: warning, criticality_at_most: 2 }
    grade: minor
  - grade: general

# SLA targets per grade and customer tier, in working time on `calendar`.
targets:
  urgent:
    standard: { first_contact: 2h, on_site: 24h, resolution: 48h, calendar: round-the-clock }
    vip:      { first_contact: 1h, on_site: 12h, resolution: 24h, calendar: round-the-clock }
  general:
    standard: { first_contact: 2h, on_site: 24h, resolution: 72h, calendar: office }
    vip:      { first_contact: 1h, on_site: 12h, resolution: 48h, calendar: office }
  minor:
    standard: { first_contact: 8h, on_site: 72h, resolution: 120h, calendar: office }
    vip:      { first_contact: 4h, on_site: 48h, resolution: 96h, calendar: office }

# The ladder, per clock and deadline, each step once: remind the owner at warn_at of the
# target, tell the supervisor supervisor_after the breach, management management_after it
# (both in working time). A ticket nobody acknowledged is offered again every
# acknowledge_timeout.
escalation:
  warn_at: 75%
  supervisor_after: 0s
  management_after: 4h
  acknowledge_timeout: 30m

# An engineer's proposed solution (diagnosis, planned work, parts, estimated cost) needs a
# supervisor's approval before the repair for these grades, or above this estimated cost
# (`none`: no cost rule). Waiting for approval never stops the customer's SLA clocks.
approval:
  grades: [urgent]
  cost_over: 5000

# Dispatch: with `auto: true`, the escalation scan sends the best in-house candidate (on time
# first, then the earliest; skills with valid certificates, shift, load; see
# `fieldwatch dispatch --help`) to each urgent ticket nobody is sent to yet. Off by default:
# a dispatcher decides, with `fieldwatch dispatch suggest` or the dashboard's Dispatch page.
dispatch:
  auto: false

# Steps logged after the fact (`--at` earlier than now): allowed, but never dated before the
# ticket's previous step; one logged more than this after its time is marked late-logged on
# the ticket's timeline and counted in the KPIs. The server's receipt time is kept beside the
# step's time in the audit trail either way.
steps:
  late_logged_after: 30m

"""#
}
